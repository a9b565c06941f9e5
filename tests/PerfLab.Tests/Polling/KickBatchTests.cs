using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Polling;

/// <summary>
/// Kick coalescing (<see cref="KickBatch"/>): its decisions one by one, then a back-end that
/// follows it against a driver on a simulated clock, with the spec's kick decision
/// (<see cref="EventIdx.NeedEvent"/> on avail_event) across the u16 wrap. No wall clock.
/// </summary>
public class KickBatchTests
{
    [Fact]
    public void OffArmsForEveryBufferWithoutATimeout()
    {
        var k = new KickBatch(1, 0);
        Assert.False(k.Enabled);
        k.OnWork();
        Assert.Equal(1, k.Ahead);
        Assert.Equal(-1, k.SleepTimeoutNs);
        Assert.False(k.Deciding);
    }

    [Fact]
    public void ABatchNeedsATimeout() => Assert.Throws<ArgumentOutOfRangeException>(() => new KickBatch(8, 0));

    [Fact]
    public void CoalescesWhileWorkFlowsAndStopsAfterAnEmptyTimeout()
    {
        var k = new KickBatch(64, 100_000);
        Assert.Equal(1, k.Ahead);                  // nothing flowed yet: a plain arm
        Assert.Equal(-1, k.SleepTimeoutNs);
        Assert.True(k.Deciding);
        k.OnWork();
        Assert.Equal(64, k.Ahead);
        Assert.Equal(100_000, k.SleepTimeoutNs);
        Assert.False(k.Deciding);                  // the work path stays cheap while it flows
        k.OnSleepEnded(slept: true, notified: true, coalesced: true);
        Assert.Equal(1, k.CoalescedSleeps);
        Assert.Equal(0, k.Timeouts);
        k.OnSleepEnded(slept: true, notified: false, coalesced: true);
        Assert.Equal(1, k.Timeouts);
        Assert.True(k.Deciding);
        k.OnWork();                                // the timeout found a tail
        Assert.Equal(1, k.TimeoutsFoundWork);
        Assert.Equal(64, k.Ahead);
        k.OnSleepEnded(slept: true, notified: false, coalesced: true);
        k.OnIdle();                                // ... and this one nothing: the flow stopped
        Assert.Equal(1, k.Ahead);
        Assert.Equal(-1, k.SleepTimeoutNs);
        Assert.Equal(2, k.Timeouts);
        Assert.Equal(1, k.TimeoutsFoundWork);
        k.OnIdle();                                // idle periods without a timeout change nothing
        Assert.Equal(1, k.Ahead);
        k.OnSleepEnded(slept: false, notified: true, coalesced: false); // re-check found work
        Assert.Equal(3, k.CoalescedSleeps);
        k.OnWork();
        Assert.Equal(64, k.Ahead);
    }

    private const long WakeNs = 10_000, FrameNs = 100;

    /// <summary>The driver: bursts at given times, each published with one avail.idx store and
    /// a kick when it passes avail_event; the back-end: takes everything available, then arms
    /// (avail_event <see cref="KickBatch.Ahead"/> - 1 past what it took), re-checks and sleeps
    /// until a kick (plus a wake-up) or its timeout (plus a wake-up).</summary>
    private sealed class Sim(KickBatch rule, (long At, int Frames)[] bursts)
    {
        private KickBatch _rule = rule;
        private readonly Queue<long> _posted = new();
        private ushort _availIdx = 65_500, _lastAvail = 65_500, _availEvent = 65_500;
        private bool _kickPending;
        private int _next;
        public long Served, Sleeps, MaxWaitNs, LastWorkAt;

        /// <summary>The longest wait of a frame posted at or after <see cref="SteadyFrom"/>, and
        /// the sleeps from then (the adaptive batch has settled).</summary>
        public long SteadyFrom = long.MaxValue, SteadyMaxWaitNs, SteadySleeps;
        public int MinBatch = int.MaxValue, MaxBatch;
        public long SleepsAfterLastFrame;
        public KickBatch Rule => _rule;

        private void PublishUntil(long t)
        {
            for (; _next < bursts.Length && bursts[_next].At <= t; _next++)
            {
                ushort old = _availIdx;
                _availIdx += (ushort)bursts[_next].Frames;
                for (int i = 0; i < bursts[_next].Frames; i++)
                {
                    _posted.Enqueue(bursts[_next].At);
                }
                _kickPending |= EventIdx.NeedEvent(_availEvent, _availIdx, old);
            }
        }

        public void Run()
        {
            long t = 0;
            while (true)
            {
                PublishUntil(t);
                int n = (ushort)(_availIdx - _lastAvail);
                if (n > 0)
                {
                    for (int i = 0; i < n; i++)
                    {
                        long postedAt = _posted.Dequeue();
                        MaxWaitNs = Math.Max(MaxWaitNs, t - postedAt);
                        if (postedAt >= SteadyFrom)
                        {
                            SteadyMaxWaitNs = Math.Max(SteadyMaxWaitNs, t - postedAt);
                        }
                    }
                    _lastAvail = _availIdx;
                    Served += n;
                    t += n * FrameNs;
                    LastWorkAt = t;
                    _rule.OnWork();
                    continue;
                }
                _rule.OnIdle();
                int ahead = _rule.Ahead;
                long timeout = _rule.SleepTimeoutNs;
                long armedAt = t;
                if (ahead > 1)
                {
                    MinBatch = Math.Min(MinBatch, ahead);
                    MaxBatch = Math.Max(MaxBatch, ahead);
                }
                _availEvent = (ushort)(_lastAvail + ahead - 1);
                PublishUntil(t); // the re-check after arming
                if (_availIdx != _lastAvail)
                {
                    _rule.OnSleepEnded(false, true, ahead > 1);
                    continue;
                }
                long deadline = timeout < 0 ? long.MaxValue : t + timeout;
                bool notified = _kickPending;
                while (!notified && _next < bursts.Length && bursts[_next].At < deadline)
                {
                    long at = bursts[_next].At;
                    PublishUntil(at);
                    if (_kickPending)
                    {
                        notified = true;
                        t = at;
                    }
                }
                if (!notified)
                {
                    if (deadline == long.MaxValue)
                    {
                        return; // asleep for good: nothing will ever come
                    }
                    t = deadline;
                }
                Sleeps++;
                if (t >= SteadyFrom)
                {
                    SteadySleeps++;
                }
                if (_next == bursts.Length && _posted.Count == 0)
                {
                    SleepsAfterLastFrame++;
                }
                t += WakeNs;
                _kickPending = false; // the eventfd's drain
                _rule.OnSleepEnded(true, notified, ahead > 1, t - armedAt);
            }
        }

        public long Posted => bursts.Sum(b => b.Frames);
    }

    private static (long, int)[] Steady(int count, long gapNs, int frames) =>
        Enumerable.Range(1, count).Select(i => (i * gapNs, frames)).ToArray();

    [Fact]
    public void TwoBurstsPerKickHalveTheWakeUpsAndTheWaitStaysWithinAGap()
    {
        // The first burst finds the loop armed plainly (nothing flowed yet); the rest pair up.
        (long, int)[] bursts = Steady(2001, 50_000, 32);
        var off = new Sim(new KickBatch(0, 0), bursts);
        off.Run();
        var on = new Sim(new KickBatch(64, 200_000), bursts);
        on.Run();
        Assert.Equal(off.Posted, off.Served);
        Assert.Equal(on.Posted, on.Served);
        Assert.Equal(2001, off.Sleeps);                      // a wake-up per burst
        Assert.Equal(1002, on.Sleeps);                       // a wake-up per two, and one timeout after the last
        Assert.Equal(1, on.Rule.Timeouts);                   // every other one a kick ...
        Assert.Equal(0, on.Rule.TimeoutsFoundWork);
        Assert.Equal(1001, on.Rule.CoalescedSleeps);
        Assert.InRange(on.MaxWaitNs, 50_000, 50_000 + WakeNs + 64 * FrameNs); // ... the first burst waits for the second
        Assert.True(off.MaxWaitNs <= WakeNs + 32 * FrameNs);
    }

    /// <summary>Bursts of random size at random gaps, some far apart: every frame is served,
    /// none waits longer than the timeout and a wake-up (the timeout is the safety net for a
    /// batch that never fills), and after the last frame the loop times out at most twice, then
    /// sleeps until notified.</summary>
    [Theory]
    [InlineData(2, 20_000, 1)]
    [InlineData(16, 50_000, 2)]
    [InlineData(64, 100_000, 3)]
    [InlineData(256, 200_000, 4)]
    [InlineData(4096, 100_000, 5)] // more than a u16 lap of the driver's posts would ever make
    public void NoFrameWaitsBeyondTheTimeoutAndAnIdleLoopStopsWaking(int batch, long timeoutNs, int seed)
    {
        var rng = new Random(seed);
        long t = 0;
        var bursts = new List<(long, int)>();
        for (int i = 0; i < 5000; i++)
        {
            t += rng.Next(4) == 0 ? rng.Next(100_000, 1_000_000) : rng.Next(1_000, 60_000);
            bursts.Add((t, rng.Next(1, 33)));
        }
        var sim = new Sim(new KickBatch(batch, timeoutNs), bursts.ToArray());
        sim.Run();
        Assert.Equal(sim.Posted, sim.Served);
        Assert.True(sim.MaxWaitNs <= timeoutNs + WakeNs + 256 * FrameNs, $"a frame waited {sim.MaxWaitNs} ns");
        Assert.InRange(sim.SleepsAfterLastFrame, 0, 2);
        Assert.Equal(1, sim.Rule.Ahead);
        Assert.Equal(-1, sim.Rule.SleepTimeoutNs);
        Assert.True(sim.Rule.Timeouts > 0); // the tails were served by the timeout
        Assert.True(sim.Rule.TimeoutsFoundWork > 0);
    }

    // ---- a fill target: the batch follows the rate ------------------------------------------

    [Fact]
    public void AFillTargetScalesTheBatchByTargetOverTheSleep()
    {
        var k = new KickBatch(1024, 400_000, fillNs: 100_000);
        Assert.Equal(KickBatch.FirstAdaptiveBatch, k.Batch);
        Assert.Equal(1024, k.MaxBatch);
        k.OnWork();
        k.OnSleepEnded(slept: true, notified: true, coalesced: true, sleptNs: 50_000);  // filled in half the target
        Assert.Equal(128, k.Batch);
        k.OnSleepEnded(slept: true, notified: true, coalesced: true, sleptNs: 10_000);  // at most x2 a sleep
        Assert.Equal(256, k.Batch);
        k.OnSleepEnded(slept: true, notified: true, coalesced: true, sleptNs: 125_000);
        Assert.Equal(205, k.Batch);
        k.OnSleepEnded(slept: true, notified: false, coalesced: true, sleptNs: 30_000); // an early tick: no news
        Assert.Equal(205, k.Batch);
        k.OnSleepEnded(slept: true, notified: false, coalesced: true, sleptNs: 400_000); // unfilled well past it: at most /2
        Assert.Equal(102, k.Batch);
        k.OnSleepEnded(slept: false, notified: true, coalesced: true, sleptNs: 0);      // the re-check found work
        Assert.Equal(102, k.Batch);
        for (int i = 0; i < 20; i++)
        {
            k.OnSleepEnded(slept: true, notified: true, coalesced: true, sleptNs: 1_000);
        }
        Assert.Equal(1024, k.Batch);                                                    // the ceiling
        for (int i = 0; i < 20; i++)
        {
            k.OnSleepEnded(slept: true, notified: true, coalesced: true, sleptNs: 10_000_000);
        }
        Assert.Equal(1, k.Batch);                                                       // the floor: a kick per buffer
        Assert.Equal(1, k.Ahead);
        Assert.Equal(-1, k.SleepTimeoutNs);                                             // ... and no timeout
    }

    [Fact]
    public void FromOneBufferATryOfTwoIsRationed()
    {
        var k = new KickBatch(256, 200_000, fillNs: 100_000);
        k.OnWork();
        k.OnSleepEnded(slept: true, notified: true, coalesced: true, sleptNs: 10_000_000);
        k.OnSleepEnded(slept: true, notified: true, coalesced: true, sleptNs: 10_000_000);
        k.OnSleepEnded(slept: true, notified: true, coalesced: true, sleptNs: 10_000_000);
        k.OnSleepEnded(slept: true, notified: true, coalesced: true, sleptNs: 10_000_000);
        k.OnSleepEnded(slept: true, notified: true, coalesced: true, sleptNs: 10_000_000);
        k.OnSleepEnded(slept: true, notified: true, coalesced: true, sleptNs: 10_000_000);
        Assert.Equal(1, k.Batch);
        k.OnSleepEnded(slept: true, notified: true, coalesced: false, sleptNs: 60_000);  // over half the target: no try
        Assert.Equal(1, k.Batch);
        for (int spacing = 1; spacing <= 8; spacing *= 2)
        {
            for (int i = 1; i < spacing; i++)
            {
                k.OnSleepEnded(slept: true, notified: true, coalesced: false, sleptNs: 20_000);
                Assert.Equal(1, k.Batch);
            }
            k.OnSleepEnded(slept: true, notified: true, coalesced: false, sleptNs: 20_000);
            Assert.Equal(2, k.Batch);                                                   // the try
            k.OnSleepEnded(slept: true, notified: false, coalesced: true, sleptNs: 200_000); // it did not fill
            Assert.Equal(1, k.Batch);
        }
        Assert.Equal(4, k.Probes);
        Assert.Equal(4, k.ProbesFailed);
        for (int i = 0; i < 16; i++)
        {
            k.OnSleepEnded(slept: true, notified: true, coalesced: false, sleptNs: 20_000);
        }
        Assert.Equal(2, k.Batch);
        k.OnSleepEnded(slept: true, notified: true, coalesced: true, sleptNs: 25_000);   // it filled: grow, and the spacing resets
        Assert.Equal(4, k.Batch);
        Assert.Equal(4, k.ProbesFailed);
    }

    /// <summary>One frame in flight: the driver posts the next frame only when the last one's
    /// answer is back, so no batch above one ever fills. Every frame but the rationed tries is
    /// served at a kick's wake-up; the tries, which wait out the timeout, are under 0.5 % of the
    /// frames.</summary>
    [Fact]
    public void OneFrameInFlightIsServedAtEveryKickBarTheRationedTries()
    {
        const long Target = 100_000, Timeout = 200_000, AnswerNs = 5_000;
        var k = new KickBatch(256, Timeout, Target);
        int frames = 20_000, waitedOut = 0;
        for (int i = 0; i < frames; i++)
        {
            // The frame is posted; the back-end sleeps armed k.Ahead ahead.
            int ahead = k.Ahead;
            bool kicked = ahead == 1;
            long slept = kicked ? WakeNs : Timeout + WakeNs;
            if (!kicked)
            {
                waitedOut++;
            }
            k.OnSleepEnded(slept: true, notified: kicked, coalesced: ahead > 1, sleptNs: slept + AnswerNs);
            k.OnWork();
        }
        Assert.InRange(waitedOut, 1, frames / 200);
        // Six halve the starting batch of 64 to one; every other one is a failed try.
        Assert.Equal(6 + k.ProbesFailed, waitedOut);
        Assert.InRange(k.ProbesFailed, 10, 30);
    }

    [Fact]
    public void WithoutAFillTargetTheBatchStays()
    {
        var k = new KickBatch(128, 500_000);
        k.OnWork();
        k.OnSleepEnded(slept: true, notified: true, coalesced: true, sleptNs: 1_000);
        k.OnSleepEnded(slept: true, notified: false, coalesced: true, sleptNs: 900_000);
        Assert.Equal(128, k.Batch);
        Assert.Equal(0, k.FillNs);
    }

    /// <summary>Steady bursts of 32 at 2, 1 and 0.55 Mpps: with a 100 µs target the batch settles
    /// where a sleep lasts about the target, so a frame waits about the target (plus a burst
    /// gap and the frames ahead of it) at every rate and the wake-ups stay near one per target;
    /// a fixed batch of 128 waits 4 bursts, 230 µs at 0.55 Mpps.</summary>
    [Theory]
    [InlineData(16_000)]
    [InlineData(32_000)]
    [InlineData(58_000)]
    public void AFillTargetKeepsTheWaitNearTheTargetAtEveryRate(long gapNs)
    {
        const long Target = 100_000;
        (long, int)[] bursts = Steady(4000, gapNs, 32);
        long steadyFrom = 1000 * gapNs;
        var adaptive = new Sim(new KickBatch(1024, 2 * Target, Target), bursts) { SteadyFrom = steadyFrom };
        adaptive.Run();
        var fixed128 = new Sim(new KickBatch(128, 2 * Target), bursts) { SteadyFrom = steadyFrom };
        fixed128.Run();
        Assert.Equal(adaptive.Posted, adaptive.Served);
        long longestWait = Target + gapNs + 1024 * FrameNs;
        Assert.True(adaptive.SteadyMaxWaitNs <= longestWait, $"a frame waited {adaptive.SteadyMaxWaitNs} ns");
        double steadySeconds = (4000 - 1000) * gapNs / 1e9;
        double wakeUpsPerTarget = adaptive.SteadySleeps / steadySeconds * Target / 1e9;
        Assert.InRange(wakeUpsPerTarget, 0.5, 1.5);
        if (gapNs == 58_000)
        {
            Assert.True(fixed128.SteadyMaxWaitNs > 3 * gapNs, $"the fixed batch waited {fixed128.SteadyMaxWaitNs} ns");
            Assert.True(adaptive.SteadyMaxWaitNs < fixed128.SteadyMaxWaitNs);
        }
    }

    /// <summary>The rate drops fourfold halfway: the batch follows it down within a few sleeps,
    /// and no frame after the drop waits beyond the timeout.</summary>
    [Fact]
    public void AFillTargetFollowsARateDrop()
    {
        const long Target = 100_000;
        var bursts = Steady(2000, 16_000, 32).Concat(Steady(1000, 64_000, 32).Select(b => (b.Item1 + 2000 * 16_000L, b.Item2))).ToArray();
        var sim = new Sim(new KickBatch(1024, 2 * Target, Target), bursts) { SteadyFrom = 2000 * 16_000L + 20 * 64_000L };
        sim.Run();
        Assert.Equal(sim.Posted, sim.Served);
        Assert.True(sim.SteadyMaxWaitNs <= Target + 64_000 + 1024 * FrameNs, $"a frame waited {sim.SteadyMaxWaitNs} ns");
        Assert.True(sim.MaxWaitNs <= 2 * Target + WakeNs + 1024 * FrameNs, $"a frame waited {sim.MaxWaitNs} ns");
    }

    /// <summary>A wake-up longer than the target: the batch shrinks to one buffer (a kick
    /// each, as without a batch), and every frame is served.</summary>
    [Fact]
    public void AWakeUpLongerThanTheTargetShrinksTheBatchToOne()
    {
        var sim = new Sim(new KickBatch(256, 10_000, 5_000), Steady(500, 50_000, 32));
        sim.Run();
        Assert.Equal(sim.Posted, sim.Served);
        Assert.Equal(1, sim.Rule.Batch);
        Assert.Equal(0, sim.Rule.Probes); // a kick after a wake-up is never within half of 5 µs
    }

    private sealed class Counts
    {
        public int Blocks, TimedOut;
    }

    /// <summary>A loop whose batch never fills: a sleep armed ahead ends by its timeout after
    /// 30 µs (spun, so the hybrid's clock sees it), a plain one by a kick at once.</summary>
    private readonly struct NeverFills(Counts c) : IWaitTarget
    {
        public bool Arm() => false;

        public void Disarm()
        {
        }

        public void Block() => c.Blocks++;

        public bool ArmCoalesced(int kickAhead) => false;

        public bool BlockFor(long timeoutNs)
        {
            long until = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency * 30 / 1_000_000;
            while (System.Diagnostics.Stopwatch.GetTimestamp() < until)
            {
            }
            c.TimedOut++;
            return false;
        }

        public long NsUntilDeadline => long.MaxValue;

        public long NotificationsSent => 0;
    }

    /// <summary>The fill target's paths on the loop's thread (the batch shrinking on timeouts,
    /// down to one, then the rationed tries of two and their failures) allocate nothing.</summary>
    [Fact]
    public void AFillTargetAllocatesNothingOnTheLoopsThread()
    {
        var c = new Counts();
        var target = new NeverFills(c);
        var h = new Hybrid(0, adaptive: false, kickBatch: 64, kickTimeoutNs: 40_000, kickFillNs: 20_000);
        void Run(int n)
        {
            for (int i = 0; i < n; i++)
            {
                h.OnWork();
                h.Idle(ref target);
            }
        }

        Run(500);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int timedOut = c.TimedOut, blocks = c.Blocks;
        long probes = h.Stats!.KickTimeouts;
        Run(2_000);
        Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(c.Blocks - blocks > 1_000, $"{c.Blocks - blocks} plain sleeps: the batch did not fall to one");
        Assert.True(c.TimedOut - timedOut >= 2, $"{c.TimedOut - timedOut} timeouts: no try of two was made (their spacing doubles to 1024)");
        Assert.True(h.Stats.KickTimeouts > probes);
        Assert.Equal(1, h.Stats.KickBatch);
    }
}

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
                        MaxWaitNs = Math.Max(MaxWaitNs, t - _posted.Dequeue());
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
                if (_next == bursts.Length && _posted.Count == 0)
                {
                    SleepsAfterLastFrame++;
                }
                t += WakeNs;
                _kickPending = false; // the eventfd's drain
                _rule.OnSleepEnded(true, notified, ahead > 1);
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
}

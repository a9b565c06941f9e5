using System.Runtime.CompilerServices;
using HdrHistogram;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Polling;

namespace PerfLab.LoadGen.Guest;

/// <summary>
/// The guest's traffic loop over all queue pairs, on one thread: reclaim TX buffers, harvest
/// RX frames (checking sequence, MAC swap and optionally the payload; recording round-trip
/// latency), send bursts. Open-loop mode (<c>RatePps &gt; 0</c>) sends each burst at its
/// scheduled time and stamps it with that time, so a stall shows as latency (no coordinated
/// omission).
/// <para>
/// This base holds what does not depend on the ring layout or the idle strategy (counters,
/// the schedule, the checks on each received frame, draining, sleeping on calls); the loop is
/// <see cref="TrafficEngine{TRing, TIdle}"/>, specialised per layout and strategy, chosen once
/// by <see cref="Create"/>. <see cref="Step"/> allocates nothing.
/// </para>
/// </summary>
public abstract unsafe class TrafficEngine : IDisposable
{
    /// <summary>Latencies above this are clamped (10 s); HdrHistogram would throw otherwise.</summary>
    public const long MaxLatencyNs = 10_000_000_000;

    /// <summary>Lossy mode: a drain ends once every TX buffer is back and nothing came back for this long.</summary>
    public const double LossyGraceS = 0.002;

    private readonly PairDriver[] _allPairs;
    private readonly bool _mergeable;
    private readonly bool _verify;
    private protected readonly bool _txOnly;
    private protected readonly bool _inOrder;
    private protected readonly bool _lossy;
    // The load (SetLoad): set between runs, never while the loop runs.
    private protected int _burst;
    private protected bool _rateMode;
    private protected long _maxInFlight;
    private protected double _burstIntervalTicks;
    private protected long _scheduleEndTick = long.MaxValue;
    // Lossy mode: burst k is due at start + k * interval (no drift), and a bounded schedule
    // (a trial) has exactly _scheduleBursts of them.
    private protected long _scheduleStartTick;
    private protected long _burstIndex;
    private protected long _scheduleBursts = long.MaxValue;
    private protected long _lateLimitTicks = (long)(200e-6 * Clock.TicksPerSecond);
    private protected long _inFlightBase; // frames in flight before the trial (lossy: lost ones included)
    private readonly EpollSet _epoll = new();
    private protected readonly bool[][] _inFlight;
    private protected double _nextBurstTick;
    private protected bool _sendBlocked; // the scheduled burst is due but the rings (or the cap) are full
    private protected int _nextPair;
    private protected long _phaseEndTick = long.MaxValue;
    private protected long _now;

    private protected TrafficEngine(PairDriver[] pairs, LoadGenOptions o, bool mergeable, bool inOrder)
    {
        _allPairs = pairs;
        _inOrder = inOrder;
        _txOnly = o.TxOnly;
        _lossy = o.Lossy;
        _mergeable = mergeable;
        _verify = o.Verify;
        _inFlight = pairs.Select(p => new bool[p.QueueSize]).ToArray();
        SetLoad(o.RatePps, o.Burst, o.MaxInFlight);
        Histogram = new LongHistogram(MaxLatencyNs, 3);
        // HdrHistogram builds a 1 KiB lookup table (Bitwise's static constructor) the first time
        // a value is recorded in the process: record once here, so that it is not the traffic
        // thread inside its first measured window (the warm-up records nothing).
        Histogram.RecordValue(1);
        Histogram.Reset();
        for (int i = 0; i < pairs.Length; i++)
        {
            if (pairs[i].CallRx >= 0)
            {
                _epoll.Add(pairs[i].CallRx, (ulong)(2 * i));
            }
            if (pairs[i].CallTx >= 0)
            {
                _epoll.Add(pairs[i].CallTx, (ulong)(2 * i + 1));
            }
        }
    }

    /// <summary>
    /// The engine for <paramref name="pairs"/>, specialised for their ring layout and for the
    /// guest's idle strategy (<see cref="LoadGenOptions.Poll"/>): the one place that picks the strategy.
    /// </summary>
    /// <param name="inOrder">VIRTIO_F_IN_ORDER was negotiated: TX buffers are posted in ring
    /// order (id = ring position) and reclaimed by batch.</param>
    public static TrafficEngine Create<TRing>(PairDriver<TRing>[] pairs, LoadGenOptions o, bool mergeable, bool inOrder = false)
        where TRing : struct, Rings.IGuestRing => o.Poll.Mode switch
    {
        PollMode.Busy => new TrafficEngine<TRing, BusyPoll>(pairs, o, mergeable, inOrder, default),
        PollMode.Interrupt => new TrafficEngine<TRing, Interrupt>(pairs, o, mergeable, inOrder, PollOptions.CreateInterrupt()),
        PollMode.Hybrid => new TrafficEngine<TRing, Hybrid>(pairs, o, mergeable, inOrder, o.Poll.CreateHybrid()),
        _ => new TrafficEngine<TRing, Backoff>(pairs, o, mergeable, inOrder, o.Poll.CreateBackoff()),
    };

    /// <summary>The engine over <paramref name="pairs"/>, whose layout decides the specialisation.</summary>
    public static TrafficEngine Create(IReadOnlyList<PairDriver> pairs, LoadGenOptions o, bool mergeable, bool inOrder = false) =>
        pairs.Count > 0 ? pairs[0].CreateEngine(pairs, o, mergeable, inOrder) : throw new ArgumentException("no queue pairs");

    public EngineCounters C { get; } = new();

    /// <summary>Round-trip latency in ns of frames received while <see cref="Measuring"/>.</summary>
    public LongHistogram Histogram { get; }

    public bool Measuring { get; set; }

    /// <summary>When false, nothing more is sent (drain).</summary>
    public bool Sending { get; set; } = true;

    public IReadOnlyList<PairDriver> Pairs => _allPairs;

    /// <summary>Frames sent and not yet back.</summary>
    public long Outstanding => C.Sent - C.Received;

    /// <summary>
    /// Every frame sent is back and every TX buffer reclaimed. Only then does the driver's view
    /// of each ring match guest memory. A frame can be back on RX while the device's used entry
    /// for its TX buffer is written but not yet read, and a packed ring's restart base is the
    /// driver's own used position (there is no used.idx in memory to read it from): a base
    /// taken from a lagging driver points at a slot the device has already marked used, and
    /// the device then waits there for ever.
    /// </summary>
    public bool Quiescent
    {
        get
        {
            return Outstanding <= 0 && AllTxReclaimed;
        }
    }

    /// <summary>Frames per publish now (<see cref="SetLoad"/>).</summary>
    public int Burst => _burst;

    /// <summary>The open-loop rate now, frames/s (0: as fast as the rings allow).</summary>
    public double RatePps { get; private set; }

    /// <summary>
    /// Sets the load of the next runs (between runs only): the open-loop rate (0: as fast as
    /// the rings allow), the frames per publish, and the most frames in flight in total (0: no
    /// cap beyond the rings). Without <see cref="LoadGenOptions.Lossy"/> each pair also keeps
    /// no more in flight than its posted RX buffers hold, so that the back-end never has to drop.
    /// </summary>
    public void SetLoad(double ratePps, int burst, int maxInFlight)
    {
        PairDriver[] pairs = _allPairs;
        _burst = Math.Clamp(burst, 1, pairs.Min(p => (int)p.QueueSize));
        RatePps = ratePps > 0 ? ratePps : 0;
        _rateMode = ratePps > 0;
        _maxInFlight = maxInFlight > 0 ? Math.Max(maxInFlight, _burst) : long.MaxValue;
        _burstIntervalTicks = _rateMode ? Clock.TicksPerSecond * (double)_burst / ratePps : 0;
        foreach (PairDriver p in pairs)
        {
            // Without MRG_RXBUF a frame takes one RX buffer; with it, as many as it needs.
            long perFrame = _mergeable ? Math.Max(1, (p.HdrLen + p.FrameSize + p.RxBufSize - 1) / p.RxBufSize) : 1;
            p.InFlightCap = _txOnly || _lossy ? long.MaxValue : Math.Max(_burst, p.QueueSize / perFrame);
        }
    }

    /// <summary>Starts the open-loop schedule now.</summary>
    public void StartSchedule() => StartScheduleAt(Clock.Now());

    private void StartScheduleAt(long tick)
    {
        _nextBurstTick = tick;
        _scheduleStartTick = tick;
        _burstIndex = 0;
    }

    /// <summary>
    /// Lossy mode: starts the open-loop schedule now for exactly <paramref name="ticks"/>:
    /// bursts due from now until then go out (or are counted dropped), later ones never.
    /// Returns the frames the schedule offers in that span. <paramref name="phase"/> (in [0, 1))
    /// delays the whole schedule by that fraction of one burst interval: devices sharing a
    /// total rate get phases spread evenly, so that their bursts are due one after another
    /// rather than all at once.
    /// </summary>
    public long StartBoundedSchedule(long ticks, double phase = 0)
    {
        StartScheduleAt(Clock.Now() + (_rateMode ? (long)(Math.Clamp(phase, 0, 1) * _burstIntervalTicks) : 0));
        _scheduleEndTick = _scheduleStartTick + ticks;
        // Bursts due strictly inside the window (an exact multiple is not rounded up).
        _scheduleBursts = _rateMode ? (long)Math.Ceiling(ticks / _burstIntervalTicks - 1e-6) : long.MaxValue;
        return _rateMode ? _scheduleBursts * _burst : 0;
    }

    /// <summary>Where the schedule starts (a bounded one may start after a phase delay).</summary>
    public long ScheduleStartTick => _scheduleStartTick;

    /// <summary>Where the bounded schedule ends (long.MaxValue: unbounded).</summary>
    public long ScheduleEndTick => _scheduleEndTick;

    /// <summary>Lossy mode: a burst attempted later than this after its scheduled time counts
    /// its frames in <see cref="EngineCounters.LateFrames"/> (the generator fell behind).</summary>
    public double LateLimitNs
    {
        get => _lateLimitTicks / (double)Clock.TicksPerSecond * 1e9;
        set => _lateLimitTicks = (long)(value * 1e-9 * Clock.TicksPerSecond);
    }

    /// <summary>Ends a bounded schedule (<see cref="StartBoundedSchedule"/>).</summary>
    public void EndBoundedSchedule()
    {
        _scheduleEndTick = long.MaxValue;
        _scheduleBursts = long.MaxValue;
    }

    /// <summary>
    /// Starts a trial: the frames sent from now on carry sequence numbers above those of every
    /// earlier trial, so one of theirs coming back late is counted <see cref="EngineCounters.Stale"/>,
    /// not as this trial's.
    /// </summary>
    public void BeginTrial()
    {
        foreach (PairDriver p in _allPairs)
        {
            p.TrialFirstSeq = p.NextSeq;
            p.ExpectSeq = p.NextSeq;
            p.MergeRemaining = 0;
        }
        _inFlightBase = _lossy ? Outstanding : 0;
    }

    /// <summary>One pass over every pair: reclaim, receive, send. Returns the work done.</summary>
    public abstract int Step();

    /// <summary>Runs steps until <paramref name="untilTick"/> with the configured strategy.</summary>
    public abstract void RunUntil(long untilTick);

    /// <summary>Runs until <paramref name="received"/> frames have come back in total, or the
    /// deadline passes (the bench moves a fixed number of frames per invocation).</summary>
    public abstract void RunUntilReceived(long received, long deadlineTick);

    /// <summary><see cref="RunUntil"/> for a wait that started at <paramref name="startTick"/>:
    /// it also ends where the clock reads earlier than that (<see cref="Clock.Expired"/>).</summary>
    internal abstract void RunUntil(long untilTick, long startTick);

    /// <summary>Sends exactly <paramref name="frames"/> frames on pair 0 in bursts, if the ring
    /// has room (tests that need exact counts).</summary>
    internal abstract int SendNow(int frames);

    /// <summary>
    /// Runs the configured strategy's idle decision once (tests: call it when the back-end has
    /// just returned buffers, so that arming finds them and does not sleep).
    /// </summary>
    internal abstract void IdleOnce();

    /// <summary>Tells the strategy a step did work (tests driving steps themselves).</summary>
    internal abstract void WorkedOnce();

    /// <summary>The guest strategy's decisions (null for busy polling).</summary>
    public abstract PollStats? PollStats { get; }

    /// <summary>Re-enables calls on every ring the loop waits on, fence, re-check: true if work
    /// is pending.</summary>
    internal abstract bool ArmAll();

    internal abstract void DisarmAll();

    /// <summary>Stops sending and runs until the rings are <see cref="Quiescent"/> (every frame
    /// back, every TX buffer reclaimed) or the timeout passes.</summary>
    public void Drain(double timeoutS)
    {
        if (_lossy)
        {
            // Dropped frames never come back: wait for the TX buffers and a quiet spell.
            DrainTrial(long.MaxValue, 0, LossyGraceS, timeoutS);
            return;
        }
        Sending = false;
        long start = Clock.Now();
        long end = start + (long)(timeoutS * Clock.TicksPerSecond);
        while (!Quiescent && !Clock.Expired(Clock.Now(), start, end))
        {
            if (Step() == 0)
            {
                NudgeAll();
            }
        }
    }

    // ---- what every layout does with a completed buffer ----------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private protected void TxOnlyCompleted(PairDriver p, uint id, long now)
    {
        C.Received++;
        p.Received++;
        if (C.FirstRxTick == 0)
        {
            C.FirstRxTick = now;
        }
        if (Measuring)
        {
            Record(now - p.TxStamp[id]);
        }
    }

    /// <summary>Checks a received buffer (a frame, or a mergeable frame's continuation) and
    /// records its round trip.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private protected void HandleRx(PairDriver p, uint id, uint len, long now)
    {
        byte* buf = p.RxBuffer(id);
        if (p.MergeRemaining > 0)
        {
            ContinueMerged(p, buf, len); // a continuation buffer of a mergeable frame
            return;
        }
        int hdr = p.HdrLen;
        if (len < (uint)(hdr + FrameLayout.MinFrame))
        {
            if (len >= (uint)(hdr + FrameLayout.EthHeader) && IsRarp(buf + hdr))
            {
                C.RarpReceived++;
                return;
            }
            C.BadLength++;
            return;
        }
        byte* f = buf + hdr;
        if (IsRarp(f))
        {
            C.RarpReceived++; // SEND_RARP: the back-end announced the guest's MAC
            return;
        }
        ushort nb = _mergeable ? Unsafe.ReadUnaligned<ushort>(buf + 10) : (ushort)1;
        if (nb > 1)
        {
            // MRG_RXBUF: the frame goes on in the next nb - 1 used buffers
            // (docs/protocol.md#the-virtio-net-header).
            p.MergeRemaining = Math.Min(nb - 1, p.QueueSize);
            p.MergeBytes = len - (uint)hdr;
        }
        else if (len != p.TxLen)
        {
            C.BadLength++;
        }
        if (Unsafe.ReadUnaligned<uint>(f + FrameLayout.ProbeOffset) != FrameLayout.Magic)
        {
            C.Corrupt++;
            return;
        }
        ulong seq = Unsafe.ReadUnaligned<ulong>(f + FrameLayout.SeqOffset);
        long stamp = Unsafe.ReadUnaligned<long>(f + FrameLayout.StampOffset);
        if (f[5] != 0x01 || f[4] != (byte)p.Index)
        {
            C.Unswapped++; // a forwarder that does not swap MACs (DPDK io mode)
        }
        if (seq != p.ExpectSeq)
        {
            if (seq < p.TrialFirstSeq)
            {
                C.Stale++; // sent in an earlier trial, back after it ended (lossy trials)
                return;
            }
            if (_lossy && seq > p.ExpectSeq)
            {
                C.SeqGaps += (long)(seq - p.ExpectSeq); // frames lost on the way (dropped by the back-end)
            }
            else
            {
                C.SeqErrors++;
            }
        }
        p.ExpectSeq = seq + 1;
        C.Received++;
        p.Received++;
        if (C.FirstRxTick == 0)
        {
            C.FirstRxTick = now;
        }
        if (Measuring)
        {
            Record(now - stamp);
        }
        if (_verify)
        {
            Verify(f, 0, (int)Math.Min(len - (uint)hdr, (uint)p.FrameSize), p.FrameSize);
        }
    }

    /// <summary>
    /// Lossy trials: stops sending and runs until this trial's frames are all back, or every TX
    /// buffer is reclaimed and nothing has come back for <paramref name="graceS"/> (the rest
    /// was dropped), or <paramref name="timeoutS"/> passes.
    /// </summary>
    public void DrainTrial(long trialSent, long trialReceived0, double graceS, double timeoutS)
    {
        TrialDrain d = BeginDrain(trialSent, trialReceived0, graceS, timeoutS);
        RunDrain(ref d);
    }

    /// <summary>Runs a drain begun by <see cref="BeginDrain"/> to its end, nudging the rings
    /// whenever a step finds nothing.</summary>
    public void RunDrain(ref TrialDrain d)
    {
        while (!DrainStep(ref d, out bool idle))
        {
            if (idle)
            {
                NudgeAll();
            }
        }
    }

    /// <summary>Stops sending and starts <see cref="DrainTrial"/>'s drain, to be run one
    /// <see cref="DrainStep"/> at a time (one thread draining several engines in turn).</summary>
    public TrialDrain BeginDrain(long trialSent, long trialReceived0, double graceS, double timeoutS)
    {
        Sending = false;
        long now = Clock.Now();
        return new TrialDrain(trialSent, trialReceived0, (long)(graceS * Clock.TicksPerSecond), now + (long)(timeoutS * Clock.TicksPerSecond), now);
    }

    /// <summary>
    /// One step of a drain: true when it is over (this trial's frames all back; or every TX
    /// buffer back and a quiet grace; or the timeout). <paramref name="idle"/>: the step found
    /// nothing and the drain goes on (the caller then nudges, <see cref="KickAll"/>). Allocates nothing.
    /// </summary>
    public bool DrainStep(ref TrialDrain d, out bool idle)
    {
        idle = false;
        int work = Step();
        long now = Clock.Now();
        bool txBack = AllTxReclaimed;
        if (txBack && C.Received - d.Received0 >= d.Sent)
        {
            return true;
        }
        if (work > 0)
        {
            d.LastWork = now;
        }
        else if (txBack && now - d.LastWork >= d.GraceTicks)
        {
            return true;
        }
        else
        {
            idle = true;
        }
        if (now < d.StartTick)
        {
            C.ClockJumps++;
            return true;
        }
        return now >= d.EndTick;
    }

    private bool AllTxReclaimed
    {
        get
        {
            foreach (PairDriver p in _allPairs)
            {
                if (p.TxFreeCount < p.QueueSize)
                {
                    return false;
                }
            }
            return true;
        }
    }

    /// <summary>Slow polling: the back-end may be sleeping; nudge every ring as a guest would.</summary>
    private void NudgeAll()
    {
        NanoSleep.Sleep(NudgePauseNs);
        KickAll();
    }

    /// <summary>How long a drain that found nothing pauses before it nudges the rings, ns.</summary>
    public const long NudgePauseNs = 20_000;

    /// <summary>Kicks every ring (the nudge of a drain that found nothing, after its pause).</summary>
    public void KickAll()
    {
        foreach (PairDriver p in _allPairs)
        {
            EventFd.Signal(p.KickTx);
            EventFd.Signal(p.KickRx);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsRarp(byte* frame) => frame[12] == 0x80 && frame[13] == 0x35;

    /// <summary>A continuation buffer of a mergeable frame: its bytes are the frame's from
    /// <see cref="PairDriver.MergeBytes"/> on; the last one must end the frame exactly.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ContinueMerged(PairDriver p, byte* data, uint len)
    {
        p.MergeRemaining--;
        C.MergeBuffers++;
        uint off = p.MergeBytes;
        p.MergeBytes = off + len;
        if (_verify)
        {
            Verify(data, (int)off, (int)Math.Min(len, (uint)Math.Max(0, p.FrameSize - (int)off)), p.FrameSize);
        }
        if (p.MergeRemaining == 0 && p.MergeBytes != (uint)p.FrameSize)
        {
            C.BadLength++;
        }
    }

    /// <summary>Checks <paramref name="len"/> bytes at <paramref name="data"/>, which hold the
    /// frame from <paramref name="frameOffset"/> on, against the pattern (past the probe).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Verify(byte* data, int frameOffset, int len, int frameSize)
    {
        for (int i = Math.Max(0, FrameLayout.MinFrame - frameOffset); i < len && frameOffset + i < frameSize; i++)
        {
            if (data[i] != FrameLayout.Pattern(frameOffset + i))
            {
                C.VerifyErrors++;
                return;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Record(long ticks)
    {
        long ns = (long)Clock.TicksToNs(ticks);
        Histogram.RecordValue(Math.Clamp(ns, 1, MaxLatencyNs));
    }

    // ---- waiting for calls -------------------------------------------------------------------

    /// <summary>Sleeps in epoll on every call fd until one fires, the deadline passes or
    /// <paramref name="timeoutNs"/> does (-1: no timeout); drains what fired. False only when
    /// the timeout ended the sleep: no call fired, and the deadline (the loop's own work) was
    /// not sooner.</summary>
    internal bool BlockOnCalls(long timeoutNs = -1)
    {
        long ns = NsUntilDeadline();
        if (ns <= 0)
        {
            return true;
        }
        bool timed = timeoutNs >= 0 && timeoutNs < ns;
        Span<ulong> ready = stackalloc ulong[16];
        C.Sleeps++;
        int n = _epoll.WaitNs(ready, timed ? timeoutNs : ns >= long.MaxValue / 4 ? -1 : ns);
        for (int i = 0; i < n; i++)
        {
            int tag = (int)ready[i];
            PairDriver p = _allPairs[tag / 2];
            C.CallsReceived += (long)EventFd.Drain((tag & 1) == 0 ? p.CallRx : p.CallTx);
        }
        return n > 0 || !timed;
    }

    internal long NsUntilDeadline()
    {
        long now = Clock.Now();
        long until = _phaseEndTick;
        // A due burst that cannot go out (TX full, or at the in-flight cap) waits for a
        // completion, not for the clock: sleep until a call (or the phase ends).
        if (_rateMode && Sending && !_sendBlocked && (long)_nextBurstTick < until)
        {
            until = (long)_nextBurstTick;
        }
        return until == long.MaxValue ? long.MaxValue : (long)Clock.TicksToNs(until - now);
    }

    public void Dispose() => _epoll.Dispose();
}

/// <summary>A drain under way (<see cref="TrafficEngine.BeginDrain"/>): this trial's frames
/// sent and the received count at its start, the quiet grace, the deadline, the last work seen.</summary>
public struct TrialDrain(long sent, long received0, long graceTicks, long endTick, long lastWork)
{
    internal readonly long Sent = sent;
    /// <summary>Where the drain started (a clock reading earlier ends it: <see cref="Clock.Expired"/>).</summary>
    internal readonly long StartTick = lastWork;
    internal readonly long Received0 = received0;
    internal readonly long GraceTicks = graceTicks;
    internal readonly long EndTick = endTick;
    internal long LastWork = lastWork;
}

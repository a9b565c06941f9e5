using System.Runtime.CompilerServices;
using HdrHistogram;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Virtq;

namespace PerfLab.LoadGen.Guest;

/// <summary>The guest side's counters (one writer: the traffic thread).</summary>
public sealed class EngineCounters
{
    public long Sent;
    public long Received;
    public long SeqErrors;
    public long Unswapped;
    public long BadLength;
    public long Corrupt;
    public long VerifyErrors;
    public long BadIds;
    public long Kicks;
    public long CallsReceived;
    public long Sleeps;
    public long TxFullStalls;
    public long EmptyPolls;
    public long Steps;
    /// <summary>RARP frames received (the back-end's SEND_RARP announcement).</summary>
    public long RarpReceived;
    /// <summary>Continuation buffers of mergeable frames (num_buffers &gt; 1).</summary>
    public long MergeBuffers;
    /// <summary>TX used elements read with IN_ORDER (fewer than buffers when the device batches).</summary>
    public long TxUsedElements;
    /// <summary>Clock tick of the first frame back since this was last zeroed (reconnect time).</summary>
    public long FirstRxTick;

    public EngineCounters Clone() => (EngineCounters)MemberwiseClone();
}

/// <summary>
/// The guest's traffic loop over all queue pairs, on one thread: reclaim TX buffers, harvest
/// RX frames (checking sequence, MAC swap and optionally the payload; recording round-trip
/// latency), send bursts. Open-loop mode (<c>RatePps &gt; 0</c>) sends each burst at its
/// scheduled time and stamps it with that time, so a stall shows as latency (no coordinated
/// omission). <see cref="Step"/> allocates nothing.
/// </summary>
public sealed unsafe class TrafficEngine : IDisposable
{
    /// <summary>Latencies above this are clamped (10 s); HdrHistogram would throw otherwise.</summary>
    public const long MaxLatencyNs = 10_000_000_000;

    private readonly PairDriver[] _pairs;
    private readonly int _burst;
    private readonly bool _txOnly;
    private readonly bool _mergeable;
    private readonly bool _inOrder;
    private readonly bool _verify;
    private readonly bool _rateMode;
    private readonly long _maxInFlight;
    private readonly double _burstIntervalTicks;
    private readonly EpollSet _epoll = new();
    private readonly bool[][] _inFlight;
    private double _nextBurstTick;
    private bool _sendBlocked; // the scheduled burst is due but the rings (or the cap) are full
    private int _nextPair;
    private long _phaseEndTick = long.MaxValue;
    private long _now;

    // Idle strategies; mutable structs, never readonly.
    private BusyPoll _busy;
    private Interrupt _interrupt;
    private Hybrid _hybrid;
    private Backoff _backoff;
    private readonly PollMode _mode;

    /// <param name="inOrder">VIRTIO_F_IN_ORDER was negotiated: TX buffers are posted in ring
    /// order (id = ring position) and reclaimed by batch (see <see cref="ReclaimInOrder"/>).</param>
    public TrafficEngine(PairDriver[] pairs, LoadGenOptions o, bool mergeable, bool inOrder = false)
    {
        _pairs = pairs;
        _inOrder = inOrder;
        _burst = Math.Clamp(o.Burst, 1, o.QueueSize);
        _txOnly = o.TxOnly;
        _mergeable = mergeable;
        _verify = o.Verify;
        _rateMode = o.RatePps > 0;
        _maxInFlight = o.MaxInFlight > 0 ? Math.Max(o.MaxInFlight, _burst) : long.MaxValue;
        _burstIntervalTicks = _rateMode ? Clock.TicksPerSecond * (double)_burst / o.RatePps : 0;
        _mode = o.Poll.Mode;
        _interrupt = PollOptions.CreateInterrupt();
        _hybrid = o.Poll.CreateHybrid();
        _backoff = o.Poll.CreateBackoff();
        _inFlight = pairs.Select(p => new bool[p.QueueSize]).ToArray();
        foreach (PairDriver p in pairs)
        {
            // Without MRG_RXBUF a frame takes one RX buffer; with it, as many as it needs.
            long perFrame = mergeable ? Math.Max(1, (p.HdrLen + p.FrameSize + p.RxBufSize - 1) / p.RxBufSize) : 1;
            p.InFlightCap = o.TxOnly ? long.MaxValue : Math.Max(_burst, p.QueueSize / perFrame);
        }
        Histogram = new LongHistogram(MaxLatencyNs, 3);
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

    public EngineCounters C { get; } = new();

    /// <summary>Round-trip latency in ns of frames received while <see cref="Measuring"/>.</summary>
    public LongHistogram Histogram { get; }

    public bool Measuring { get; set; }

    /// <summary>When false, nothing more is sent (drain).</summary>
    public bool Sending { get; set; } = true;

    public IReadOnlyList<PairDriver> Pairs => _pairs;

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
            if (Outstanding > 0)
            {
                return false;
            }
            foreach (PairDriver p in _pairs)
            {
                if (p.TxFreeCount < p.QueueSize)
                {
                    return false;
                }
            }
            return true;
        }
    }

    /// <summary>Starts the open-loop schedule now.</summary>
    public void StartSchedule() => _nextBurstTick = Clock.Now();

    /// <summary>One pass over every pair: reclaim, receive, send. Returns the work done.</summary>
    public int Step()
    {
        long now = Clock.Now();
        _now = now;
        int work = 0;
        PairDriver[] pairs = _pairs;
        for (int i = 0; i < pairs.Length; i++)
        {
            PairDriver p = pairs[i];
            if (p.Packed)
            {
                work += ReclaimPacked(p, _inFlight[i], now);
                if (!_txOnly)
                {
                    work += ReceivePacked(p, now);
                }
                continue;
            }
            work += _inOrder ? ReclaimInOrder(p, _inFlight[i], now) : Reclaim(p, _inFlight[i], now);
            if (!_txOnly)
            {
                work += Receive(p, now);
            }
        }
        if (Sending)
        {
            work += _rateMode ? SendScheduled(now) : SendMax();
        }
        C.Steps++;
        return work;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Reclaim(PairDriver p, bool[] inFlight, long now)
    {
        int n = p.Tx.UsedAvailable();
        for (int i = 0; i < n; i++)
        {
            VirtqUsedElem e = p.Tx.TakeUsed();
            uint id = e.Id;
            if (id >= p.QueueSize || !inFlight[id])
            {
                C.BadIds++;
                continue;
            }
            inFlight[id] = false;
            p.TxFree[p.TxFreeCount++] = (ushort)id;
            if (_txOnly)
            {
                TxOnlyCompleted(p, id, now);
            }
        }
        return n;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ReclaimPacked(PairDriver p, bool[] inFlight, long now)
    {
        int n = 0;
        while (p.TxP.TryTakeUsed(out ushort id, out _))
        {
            n++;
            if (id >= p.QueueSize || !inFlight[id])
            {
                C.BadIds++;
                continue;
            }
            inFlight[id] = false;
            p.TxFree[p.TxFreeCount++] = id;
            if (_txOnly)
            {
                TxOnlyCompleted(p, id, now);
            }
        }
        return n;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ReceivePacked(PairDriver p, long now)
    {
        int n = 0;
        while (p.RxP.TryTakeUsed(out ushort id, out uint len))
        {
            n++;
            if (id >= p.QueueSize)
            {
                C.BadIds++;
                continue;
            }
            HandleRx(p, id, len, now);
            p.PostRxPacked(id);
        }
        if (n > 0 && p.RxP.Publish())
        {
            EventFd.Signal(p.KickRx);
            C.Kicks++;
        }
        return n;
    }

    /// <summary>
    /// IN_ORDER reclaim: TX buffers were posted in ring order (id = position mod size), so the
    /// device may return a batch as one used element holding the id of its last buffer, with
    /// used.idx advanced by the batch size (reference §7.2). Each element read says how many
    /// buffers, from the next position on, it completes.
    /// </summary>
    private int ReclaimInOrder(PairDriver p, bool[] inFlight, long now)
    {
        int n = p.Tx.UsedAvailable();
        int mask = p.QueueSize - 1;
        int left = n;
        while (left > 0)
        {
            VirtqUsedElem e = p.Tx.PeekUsed();
            C.TxUsedElements++;
            int first = p.Tx.LastUsed & mask;
            int batch = (int)((e.Id - (uint)first) & (uint)mask) + 1;
            if (e.Id >= p.QueueSize || batch > left)
            {
                C.BadIds++;
                batch = left;
            }
            for (int k = 0; k < batch; k++)
            {
                int id = (first + k) & mask;
                if (!inFlight[id])
                {
                    C.BadIds++;
                    continue;
                }
                inFlight[id] = false;
                p.TxFreeCount++;
                if (_txOnly)
                {
                    TxOnlyCompleted(p, (uint)id, now);
                }
            }
            p.Tx.SkipUsed(batch);
            left -= batch;
        }
        return n;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void TxOnlyCompleted(PairDriver p, uint id, long now)
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Receive(PairDriver p, long now)
    {
        int n = p.Rx.UsedAvailable();
        if (n == 0)
        {
            return 0;
        }
        for (int i = 0; i < n; i++)
        {
            VirtqUsedElem e = p.Rx.TakeUsed();
            if (e.Id >= p.QueueSize)
            {
                C.BadIds++;
                continue;
            }
            HandleRx(p, e.Id, e.Len, now);
            p.Rx.Post((ushort)e.Id);
        }
        if (p.Rx.Publish())
        {
            EventFd.Signal(p.KickRx);
            C.Kicks++;
        }
        return n;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void HandleRx(PairDriver p, uint id, uint len, long now)
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
            // MRG_RXBUF: the frame goes on in the next nb - 1 used buffers (reference §9.2).
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
            C.SeqErrors++;
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

    private int SendMax()
    {
        int sent = 0;
        PairDriver[] pairs = _pairs;
        for (int i = 0; i < pairs.Length; i++)
        {
            PairDriver p = pairs[i];
            while (p.TxFreeCount >= _burst && p.Sent - p.Received + _burst <= p.InFlightCap && C.Sent - C.Received + _burst <= _maxInFlight)
            {
                SendBurst(p, _inFlight[i], _now);
                sent += _burst;
            }
        }
        if (sent == 0)
        {
            C.TxFullStalls++;
        }
        return sent;
    }

    private int SendScheduled(long now)
    {
        int sent = 0;
        while (_nextBurstTick <= now)
        {
            int pi = _nextPair;
            PairDriver p = _pairs[pi];
            if (p.TxFreeCount < _burst || p.Sent - p.Received + _burst > p.InFlightCap || C.Sent - C.Received + _burst > _maxInFlight)
            {
                C.TxFullStalls++; // still due: its latency will include the wait
                _sendBlocked = true;
                break;
            }
            _sendBlocked = false;
            SendBurst(p, _inFlight[pi], (long)_nextBurstTick);
            _nextBurstTick += _burstIntervalTicks;
            _nextPair = pi + 1 == _pairs.Length ? 0 : pi + 1;
            sent += _burst;
        }
        return sent;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SendBurst(PairDriver p, bool[] inFlight, long stamp)
    {
        for (int j = 0; j < _burst; j++)
        {
            ushort id;
            if (_inOrder)
            {
                id = (ushort)(p.Tx.NextAvail & (p.QueueSize - 1)); // ring order (IN_ORDER)
                p.TxFreeCount--;
            }
            else
            {
                id = p.TxFree[--p.TxFreeCount];
            }
            inFlight[id] = true;
            p.StampTx(id, p.NextSeq++, stamp);
            if (p.Packed)
            {
                p.PostTxPacked(id);
            }
            else
            {
                p.Tx.Post(id);
            }
        }
        C.Sent += _burst;
        p.Sent += _burst;
        if (p.Packed ? p.TxP.Publish() : p.Tx.Publish())
        {
            EventFd.Signal(p.KickTx);
            C.Kicks++;
        }
    }

    // ---- running ---------------------------------------------------------------------------

    /// <summary>Runs steps until <paramref name="untilTick"/> with the configured strategy.</summary>
    public void RunUntil(long untilTick)
    {
        _phaseEndTick = untilTick;
        switch (_mode)
        {
            case PollMode.Busy: Loop(ref _busy, untilTick, long.MaxValue); break;
            case PollMode.Interrupt: Loop(ref _interrupt, untilTick, long.MaxValue); break;
            case PollMode.Hybrid: Loop(ref _hybrid, untilTick, long.MaxValue); break;
            default: Loop(ref _backoff, untilTick, long.MaxValue); break;
        }
    }

    /// <summary>Runs until <paramref name="received"/> frames have come back in total, or the
    /// deadline passes (the bench moves a fixed number of frames per invocation).</summary>
    public void RunUntilReceived(long received, long deadlineTick)
    {
        _phaseEndTick = deadlineTick;
        switch (_mode)
        {
            case PollMode.Busy: Loop(ref _busy, deadlineTick, received); break;
            case PollMode.Interrupt: Loop(ref _interrupt, deadlineTick, received); break;
            case PollMode.Hybrid: Loop(ref _hybrid, deadlineTick, received); break;
            default: Loop(ref _backoff, deadlineTick, received); break;
        }
    }

    private void Loop<TIdle>(ref TIdle idle, long untilTick, long untilReceived) where TIdle : struct, IIdleStrategy
    {
        var target = new LoadGenWaitTarget(this);
        while (true)
        {
            int work = Step();
            if (_now >= untilTick || C.Received >= untilReceived)
            {
                return;
            }
            if (work > 0)
            {
                idle.OnWork();
            }
            else
            {
                C.EmptyPolls++;
                idle.Idle(ref target);
            }
        }
    }

    /// <summary>Sends exactly <paramref name="frames"/> frames on pair 0 in bursts, if the ring
    /// has room (tests that need exact counts).</summary>
    internal int SendNow(int frames)
    {
        int sent = 0;
        PairDriver p = _pairs[0];
        while (sent + _burst <= frames && p.TxFreeCount >= _burst)
        {
            SendBurst(p, _inFlight[0], Clock.Now());
            sent += _burst;
        }
        return sent;
    }

    /// <summary>
    /// Runs the configured strategy's idle decision once (tests: call it when the back-end has
    /// just returned buffers, so that arming finds them and does not sleep).
    /// </summary>
    internal void IdleOnce()
    {
        var target = new LoadGenWaitTarget(this);
        switch (_mode)
        {
            case PollMode.Busy: _busy.Idle(ref target); break;
            case PollMode.Interrupt: _interrupt.Idle(ref target); break;
            case PollMode.Hybrid: _hybrid.Idle(ref target); break;
            default: _backoff.Idle(ref target); break;
        }
    }

    /// <summary>Tells the configured strategy a step did work (tests driving steps themselves).</summary>
    internal void WorkedOnce()
    {
        switch (_mode)
        {
            case PollMode.Busy: _busy.OnWork(); break;
            case PollMode.Interrupt: _interrupt.OnWork(); break;
            case PollMode.Hybrid: _hybrid.OnWork(); break;
            default: _backoff.OnWork(); break;
        }
    }

    /// <summary>Stops sending and runs until the rings are <see cref="Quiescent"/> (every frame
    /// back, every TX buffer reclaimed) or the timeout passes.</summary>
    public void Drain(double timeoutS)
    {
        Sending = false;
        long end = Clock.Now() + (long)(timeoutS * Clock.TicksPerSecond);
        while (!Quiescent && Clock.Now() < end)
        {
            if (Step() == 0)
            {
                // Slow polling: the back-end may be sleeping; nudge every ring as a guest would.
                NanoSleep.Sleep(20_000);
                foreach (PairDriver p in _pairs)
                {
                    EventFd.Signal(p.KickTx);
                    EventFd.Signal(p.KickRx);
                }
            }
        }
    }

    internal bool ArmAll()
    {
        bool pending = false;
        PairDriver[] pairs = _pairs;
        for (int i = 0; i < pairs.Length; i++)
        {
            PairDriver p = pairs[i];
            if (!_txOnly)
            {
                pending |= p.Packed ? p.RxP.EnableInterrupts() : p.Rx.EnableInterrupts();
            }
            if (_txOnly || p.TxFreeCount < _burst)
            {
                pending |= p.Packed ? p.TxP.EnableInterrupts() : p.Tx.EnableInterrupts();
            }
        }
        return pending;
    }

    internal void DisarmAll()
    {
        foreach (PairDriver p in _pairs)
        {
            if (p.Packed)
            {
                p.RxP.DisableInterrupts();
                p.TxP.DisableInterrupts();
            }
            else
            {
                p.Rx.DisableInterrupts();
                p.Tx.DisableInterrupts();
            }
        }
    }

    internal void BlockOnCalls()
    {
        long ns = NsUntilDeadline();
        if (ns <= 0)
        {
            return;
        }
        Span<ulong> ready = stackalloc ulong[16];
        C.Sleeps++;
        int n = _epoll.WaitNs(ready, ns >= long.MaxValue / 4 ? -1 : ns);
        for (int i = 0; i < n; i++)
        {
            int tag = (int)ready[i];
            PairDriver p = _pairs[tag / 2];
            C.CallsReceived += (long)EventFd.Drain((tag & 1) == 0 ? p.CallRx : p.CallTx);
        }
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

/// <summary>The guest's wait target: calls on the rings it drives.</summary>
public readonly struct LoadGenWaitTarget : IWaitTarget
{
    private readonly TrafficEngine _engine;

    public LoadGenWaitTarget(TrafficEngine engine) => _engine = engine;

    public bool Arm() => _engine.ArmAll();

    public void Disarm() => _engine.DisarmAll();

    public void Block() => _engine.BlockOnCalls();

    public long NsUntilDeadline => _engine.NsUntilDeadline();

    public long NotificationsSent => _engine.C.Kicks;
}

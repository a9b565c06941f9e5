using System.Runtime.CompilerServices;
using PerfLab.LoadGen.Guest.Rings;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Polling;

namespace PerfLab.LoadGen.Guest;

/// <summary>
/// The traffic loop for one ring layout and one idle strategy, both generic struct arguments,
/// so the JIT specialises it with no interface calls on the traffic thread (as the back-end's
/// data path is over <c>IDeviceRing</c>). Created by <see cref="TrafficEngine.Create{TRing}"/>.
/// </summary>
public sealed class TrafficEngine<TRing, TIdle> : TrafficEngine
    where TRing : struct, IGuestRing
    where TIdle : struct, IIdleStrategy
{
    /// <summary>Lossy mode: overdue bursts handled one by one per step; older ones are counted
    /// dropped in one go.</summary>
    private const long MaxCatchUpBursts = 1024;

    private readonly PairDriver<TRing>[] _pairs;
    private TIdle _idle; // mutable struct: never readonly

    internal TrafficEngine(PairDriver<TRing>[] pairs, LoadGenOptions o, bool mergeable, bool inOrder, TIdle idle)
        : base(pairs, o, mergeable, inOrder)
    {
        _pairs = pairs;
        _idle = idle;
    }

    public override int Step()
    {
        long now = Clock.Now();
        _now = now;
        int work = 0;
        PairDriver<TRing>[] pairs = _pairs;
        for (int i = 0; i < pairs.Length; i++)
        {
            PairDriver<TRing> p = pairs[i];
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
    private int Reclaim(PairDriver<TRing> p, bool[] inFlight, long now)
    {
        int bound = p.Tx.PollUsed();
        int n = 0;
        while (n < bound && p.Tx.TryTakeUsed(out uint id, out _))
        {
            n++;
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

    /// <summary>
    /// IN_ORDER reclaim: TX buffers were posted in ring order (id = position mod size), so the
    /// device may return a batch as one used element holding the id of its last buffer, with
    /// used.idx advanced by the batch size (docs/protocol.md#descriptor-chains). Each element read
    /// says how many buffers, from the next position on, it completes (packed: from the next used
    /// slot on; a count of 0 says the next slot is not used yet).
    /// </summary>
    private int ReclaimInOrder(PairDriver<TRing> p, bool[] inFlight, long now)
    {
        int left = p.Tx.PollUsed();
        int mask = p.QueueSize - 1;
        int taken = 0;
        while (left > 0)
        {
            bool ok = p.Tx.TryTakeUsedInOrder(left, out int first, out int batch);
            if (batch == 0)
            {
                if (!ok)
                {
                    C.BadIds++;
                }
                break;
            }
            C.TxUsedElements++;
            if (!ok)
            {
                C.BadIds++;
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
            left -= batch;
            taken += batch;
        }
        return taken;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Receive(PairDriver<TRing> p, long now)
    {
        int bound = p.Rx.PollUsed();
        int n = 0;
        while (n < bound && p.Rx.TryTakeUsed(out uint id, out uint len))
        {
            n++;
            if (id >= p.QueueSize)
            {
                C.BadIds++;
                continue;
            }
            HandleRx(p, id, len, now);
            p.Rx.Post((ushort)id);
        }
        if (n > 0 && p.Rx.Publish())
        {
            EventFd.Signal(p.KickRx);
            C.Kicks++;
        }
        return n;
    }

    private int SendMax()
    {
        int sent = 0;
        PairDriver<TRing>[] pairs = _pairs;
        for (int i = 0; i < pairs.Length; i++)
        {
            PairDriver<TRing> p = pairs[i];
            while (p.TxFreeCount >= _burst && p.Sent - p.Received + _burst <= p.InFlightCap && C.Sent - C.Received - _inFlightBase + _burst <= _maxInFlight)
            {
                SendBurst(p, _inFlight[i], _now, _burst);
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
        if (_lossy)
        {
            return SendScheduledLossy(now);
        }
        int sent = 0;
        // A bounded schedule (a trial) sends its bursts and no more, even when the thread
        // comes back late from a stall across the window's end and finds later ones overdue.
        while (_nextBurstTick <= now && _burstIndex < _scheduleBursts)
        {
            int pi = _nextPair;
            PairDriver<TRing> p = _pairs[pi];
            if (p.TxFreeCount < _burst || p.Sent - p.Received + _burst > p.InFlightCap || C.Sent - C.Received - _inFlightBase + _burst > _maxInFlight)
            {
                C.TxFullStalls++; // still due: its latency will include the wait
                _sendBlocked = true;
                break;
            }
            _sendBlocked = false;
            SendBurst(p, _inFlight[pi], (long)_nextBurstTick, _burst);
            _nextBurstTick += _burstIntervalTicks;
            _burstIndex++;
            _nextPair = pi + 1 == _pairs.Length ? 0 : pi + 1;
            sent += _burst;
        }
        return sent;
    }

    /// <summary>
    /// Open loop without back-pressure: each burst due goes out at its time with as many frames
    /// as the TX ring has room for, the rest counted dropped (never sent late); the in-flight
    /// cap (SetLoad's maxInFlight) still holds. Nothing is sent past the bounded schedule's end.
    /// </summary>
    private int SendScheduledLossy(long now)
    {
        int sent = 0;
        // Far behind (a stalled thread, or a schedule never started): the bursts overdue beyond
        // a ring's worth are late and find no room; count them at once instead of one by one.
        double behind = (now - _nextBurstTick) / _burstIntervalTicks;
        if (behind > MaxCatchUpBursts)
        {
            long skip = Math.Min((long)behind - MaxCatchUpBursts, _scheduleBursts - _burstIndex);
            C.TxDropped += skip * _burst;
            C.LateFrames += skip * _burst;
            _burstIndex += skip;
            _nextBurstTick = _scheduleStartTick + _burstIndex * _burstIntervalTicks;
        }
        while (_nextBurstTick <= now && _burstIndex < _scheduleBursts)
        {
            int pi = _nextPair;
            PairDriver<TRing> p = _pairs[pi];
            long room = Math.Min(Math.Min(p.TxFreeCount, _burst), _maxInFlight - (C.Sent - C.Received - _inFlightBase));
            int n = (int)Math.Max(0, room);
            if (now - (long)_nextBurstTick > _lateLimitTicks)
            {
                C.LateFrames += _burst; // the generator itself fell behind its schedule
            }
            if (n > 0)
            {
                SendBurst(p, _inFlight[pi], (long)_nextBurstTick, n);
            }
            C.TxDropped += _burst - n;
            _burstIndex++;
            _nextBurstTick = _scheduleStartTick + _burstIndex * _burstIntervalTicks;
            _nextPair = pi + 1 == _pairs.Length ? 0 : pi + 1;
            sent += n;
        }
        return sent;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SendBurst(PairDriver<TRing> p, bool[] inFlight, long stamp, int count)
    {
        for (int j = 0; j < count; j++)
        {
            ushort id;
            if (_inOrder)
            {
                id = p.Tx.NextPostPosition; // ring order (IN_ORDER)
                p.TxFreeCount--;
            }
            else
            {
                id = p.TxFree[--p.TxFreeCount];
            }
            inFlight[id] = true;
            p.StampTx(id, p.NextSeq++, stamp);
            p.Tx.Post(id);
        }
        C.Sent += count;
        p.Sent += count;
        if (p.Tx.Publish())
        {
            EventFd.Signal(p.KickTx);
            C.Kicks++;
        }
    }

    // ---- running ---------------------------------------------------------------------------

    public override void RunUntil(long untilTick) => RunUntil(untilTick, Clock.Now());

    internal override void RunUntil(long untilTick, long startTick)
    {
        _phaseEndTick = untilTick;
        Loop(untilTick, long.MaxValue, startTick);
    }

    public override void RunUntilReceived(long received, long deadlineTick)
    {
        _phaseEndTick = deadlineTick;
        Loop(deadlineTick, received, Clock.Now());
    }

    /// <param name="startTick">where the wait started: a clock that reads earlier ends it
    /// (<see cref="Clock.Expired"/>)</param>
    private void Loop(long untilTick, long untilReceived, long startTick)
    {
        var target = new WaitTarget(this);
        while (true)
        {
            int work = Step();
            if (Clock.Expired(_now, startTick, untilTick) || C.Received >= untilReceived)
            {
                if (_now < startTick)
                {
                    C.ClockJumps++;
                }
                return;
            }
            if (work > 0)
            {
                _idle.OnWork();
            }
            else
            {
                C.EmptyPolls++;
                _idle.Idle(ref target);
            }
        }
    }

    internal override int SendNow(int frames)
    {
        int sent = 0;
        PairDriver<TRing> p = _pairs[0];
        while (sent + _burst <= frames && p.TxFreeCount >= _burst)
        {
            SendBurst(p, _inFlight[0], Clock.Now(), _burst);
            sent += _burst;
        }
        return sent;
    }

    internal override void IdleOnce()
    {
        var target = new WaitTarget(this);
        _idle.Idle(ref target);
    }

    internal override void WorkedOnce() => _idle.OnWork();

    public override PollStats? PollStats => _idle.Stats;

    internal override bool ArmAll()
    {
        bool pending = false;
        PairDriver<TRing>[] pairs = _pairs;
        for (int i = 0; i < pairs.Length; i++)
        {
            PairDriver<TRing> p = pairs[i];
            if (!_txOnly)
            {
                pending |= p.Rx.EnableInterrupts();
            }
            if (_txOnly || p.TxFreeCount < _burst)
            {
                pending |= p.Tx.EnableInterrupts();
            }
        }
        return pending;
    }

    internal override void DisarmAll()
    {
        foreach (PairDriver<TRing> p in _pairs)
        {
            p.Rx.DisableInterrupts();
            p.Tx.DisableInterrupts();
        }
    }

    /// <summary>The guest's wait target: calls on the rings it drives (a struct over the sealed
    /// engine, so the strategy's calls into it are direct).</summary>
    private readonly struct WaitTarget(TrafficEngine<TRing, TIdle> engine) : IWaitTarget
    {
        public bool Arm() => engine.ArmAll();

        public void Disarm() => engine.DisarmAll();

        public void Block() => engine.BlockOnCalls();

        // The guest does not coalesce its calls: it arms as before.
        public bool ArmCoalesced(int kickAhead) => engine.ArmAll();

        // The timeout is epoll's, per sleep: the guest has no worker timer to keep periodic,
        // and the loop's own deadline still ends the sleep sooner when it is sooner.
        public bool BlockFor(long timeoutNs) => engine.BlockOnCalls(timeoutNs);

        public long NsUntilDeadline => engine.NsUntilDeadline();

        public long NotificationsSent => engine.C.Kicks;
    }
}

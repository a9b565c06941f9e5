using PerfLab.Vhost.Interop;

namespace PerfLab.Backend.Workers;

/// <summary>
/// The agent of a data-plane worker: polls every <see cref="QueuePoller"/> registered with it,
/// whatever device it belongs to, and sleeps in one epoll set over all their kick fds. The set
/// of pollers is an immutable snapshot: control threads build a new one (they may allocate) and
/// the agent adopts it at a round boundary by swapping one reference, so adding or removing a
/// device's pollers allocates nothing on the worker thread and leaves other devices' pollers
/// running.
/// </summary>
public sealed class PollingAgent : IAgent, IDisposable
{
    private const ulong WakeTag = ulong.MaxValue;
    private const ulong TimerTag = ulong.MaxValue - 1;
    private const int TagShift = 2; // tag = slot << 2 | kick fd index (QueuePoller.MaxKickFds)

    private readonly int _wakeFd;

    // Kick fds registered edge-triggered: a wake-up reads nothing from them (one system call
    // fewer per wake-up; docs/polling.md, "Edge-triggered kick fds").
    private readonly bool _edgeKicks;

    // A kick batch's timeout (Block with a timeout): a periodic timer, armed while the
    // timeouts are asked for and stopped when a sleep asks for none. _timerPeriodNs: armed now (0: stopped).
    private readonly int _timerFd;
    private long _timerPeriodNs;
    private readonly EpollSet _epoll = new();
    private readonly object _lock = new();

    // Control side, under _lock: the registered pollers by slot (the slot names them in epoll).
    private QueuePoller?[] _slots = [];

    // Published by control threads, adopted by the worker at a round boundary.
    private volatile Snapshot _published = Snapshot.Empty;

    // Worker side.
    private Snapshot _current = Snapshot.Empty;

    /// <summary>What the worker runs: the pollers in order, and the slot table for epoll tags.</summary>
    private sealed class Snapshot(QueuePoller[] pollers, QueuePoller?[] slots)
    {
        public static readonly Snapshot Empty = new([], []);
        public readonly QueuePoller[] Pollers = pollers;
        public readonly QueuePoller?[] Slots = slots;
        public readonly bool MustPoll = pollers.Any(p => p.MustPoll);
    }

    public PollingAgent(bool edgeTriggeredKicks = false)
    {
        _edgeKicks = edgeTriggeredKicks;
        _wakeFd = EventFd.Create();
        _epoll.Add(_wakeFd, WakeTag);
        _timerFd = TimerFd.Create();
        _epoll.Add(_timerFd, TimerTag);
    }

    /// <summary>Pollers the worker is running now (tests and stats).</summary>
    public int ActivePollers => Volatile.Read(ref _activeCount);

    private int _activeCount;

    /// <summary>The pollers registered now, in slot order (control side).</summary>
    public QueuePoller[] Registered
    {
        get
        {
            lock (_lock)
            {
                return _slots.Where(p => p != null).ToArray()!;
            }
        }
    }

    // ---- control side ---------------------------------------------------------------------

    /// <summary>
    /// Replaces the pollers <paramref name="owner"/> has registered with <paramref name="pollers"/>
    /// (empty: removes them) and publishes the new set; the caller then asks the runner for a
    /// round boundary and waits for it, after which <see cref="AfterAdopted"/> arms the new
    /// kick fds. The old pollers' kick fds leave the epoll set at once.
    /// </summary>
    internal void Publish(object owner, IReadOnlyList<QueuePoller> pollers, List<QueuePoller> added)
    {
        lock (_lock)
        {
            var slots = (QueuePoller?[])_slots.Clone();
            for (int s = 0; s < slots.Length; s++)
            {
                if (slots[s] is { } old && ReferenceEquals(old.Owner, owner))
                {
                    for (int i = 0; i < old.KickFdCount; i++)
                    {
                        if (old.KickFd(i) >= 0)
                        {
                            _epoll.Remove(old.KickFd(i));
                        }
                    }
                    slots[s] = null;
                }
            }
            foreach (QueuePoller p in pollers)
            {
                int free = Array.IndexOf(slots, null);
                if (free < 0)
                {
                    free = slots.Length;
                    Array.Resize(ref slots, Math.Max(4, 2 * slots.Length));
                }
                slots[free] = p;
                added.Add(p);
            }
            _slots = slots;
            _published = new Snapshot(slots.Where(p => p != null).ToArray()!, slots);
        }
    }

    /// <summary>After the worker adopted a snapshot with <paramref name="added"/>: their kick fds
    /// join the epoll set (a kick that came before is still pending on its eventfd).</summary>
    internal void AfterAdopted(List<QueuePoller> added)
    {
        lock (_lock)
        {
            foreach (QueuePoller p in added)
            {
                int slot = Array.IndexOf(_slots, p);
                if (slot < 0)
                {
                    continue; // already replaced by a later publish
                }
                for (int i = 0; i < p.KickFdCount; i++)
                {
                    int fd = p.KickFd(i);
                    if (fd >= 0)
                    {
                        _epoll.Add(fd, ((ulong)slot << TagShift) | (uint)i, _edgeKicks ? LibC.EPOLLIN | LibC.EPOLLET : LibC.EPOLLIN);
                    }
                }
            }
        }
    }

    // ---- worker side ----------------------------------------------------------------------

    public bool HasSources => _current.Pollers.Length > 0;

    public void OnRoundBoundary()
    {
        _current = _published;
        Volatile.Write(ref _activeCount, _current.Pollers.Length);
    }

    /// <summary>One round over every poller. Allocation-free.</summary>
    public int DoWork()
    {
        QueuePoller[] pollers = _current.Pollers;
        int work = 0;
        for (int i = 0; i < pollers.Length; i++)
        {
            work += pollers[i].Poll();
        }
        return work;
    }

    public bool Arm(int kickAhead)
    {
        Snapshot s = _current;
        if (s.MustPoll)
        {
            return true;
        }
        bool pending = false;
        QueuePoller[] pollers = s.Pollers;
        for (int i = 0; i < pollers.Length; i++)
        {
            pending |= pollers[i].Arm(kickAhead);
        }
        return pending;
    }

    public void Disarm()
    {
        QueuePoller[] pollers = _current.Pollers;
        for (int i = 0; i < pollers.Length; i++)
        {
            pollers[i].Disarm();
        }
    }

    public bool Block(long timeoutNs)
    {
        // The timeout is a periodic timer, changed (a system call) only when a flow starts or
        // stops, not a timeout per sleep: arming and cancelling a one-shot kernel timer at every
        // sleep cost more CPU on a VM than the wake-ups a kick batch saves (docs/polling.md). A
        // frame still waits at most a period: the timer fires within one of any moment.
        long period = Math.Max(0, timeoutNs);
        if (period != _timerPeriodNs)
        {
            TimerFd.SetPeriodic(_timerFd, period);
            _timerPeriodNs = period;
        }
        Span<ulong> ready = stackalloc ulong[16];
        int n = _epoll.Wait(ready, -1);
        QueuePoller?[] slots = _current.Slots;
        bool kicked = false;
        for (int i = 0; i < n; i++)
        {
            ulong tag = ready[i];
            if (tag == WakeTag)
            {
                EventFd.Drain(_wakeFd);
                continue;
            }
            if (tag == TimerTag)
            {
                TimerFd.Drain(_timerFd);
                continue;
            }
            // A poller not in this worker's snapshot yet (or any more) is skipped: its kick
            // stays pending on the eventfd for the round that adopts it (edge-triggered, the
            // report is spent, but that round polls the ring before it sleeps).
            ulong slot = tag >> TagShift;
            if (slot < (ulong)slots.Length && slots[slot] is { } p)
            {
                kicked |= p.OnKick((int)(tag & ((1 << TagShift) - 1)), drain: !_edgeKicks);
            }
        }
        return kicked;
    }

    public void Wake() => EventFd.Signal(_wakeFd);

    public long NotificationsSent
    {
        get
        {
            long n = 0;
            QueuePoller[] pollers = _current.Pollers;
            for (int i = 0; i < pollers.Length; i++)
            {
                n += pollers[i].CallsSent;
            }
            return n;
        }
    }

    public void Dispose()
    {
        _epoll.Dispose();
        LibC.CloseQuietly(_wakeFd);
        LibC.CloseQuietly(_timerFd);
    }

    /// <summary>The agent as a struct argument of <see cref="AgentRunner{TAgent, TIdle}"/>: its
    /// calls are direct calls to this sealed class.</summary>
    public readonly struct Handle(PollingAgent agent) : IAgent
    {
        public int DoWork() => agent.DoWork();

        public bool HasSources => agent.HasSources;

        public bool Arm(int kickAhead) => agent.Arm(kickAhead);

        public void Disarm() => agent.Disarm();

        public bool Block(long timeoutNs) => agent.Block(timeoutNs);

        public void Wake() => agent.Wake();

        public long NotificationsSent => agent.NotificationsSent;

        public void OnRoundBoundary() => agent.OnRoundBoundary();
    }
}

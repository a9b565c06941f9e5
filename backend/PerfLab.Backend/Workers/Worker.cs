using PerfLab.Backend.Devices;
using PerfLab.Backend.Logging;
using PerfLab.Backend.Stats;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Protocol;

namespace PerfLab.Backend.Workers;

/// <summary>
/// A data-plane worker: one thread serving a fixed set of queue pairs. It runs rounds
/// (<see cref="DoWork"/>) and, when a round finds nothing, lets its idle strategy decide what
/// to do. The control plane changes its configuration only through <see cref="Pause"/> /
/// <see cref="Resume"/>: the worker stops at a round boundary (no chain half-processed, no
/// guest memory touched), acknowledges, and picks up the new <see cref="DeviceView"/> on resume.
/// A worker can also be driven without a thread (tests call <see cref="ApplyView"/> and
/// <see cref="DoWork"/> directly on their own thread).
/// </summary>
public abstract class Worker : IDisposable
{
    private const ulong WakeTag = ulong.MaxValue;
    private const int Running = 0, PauseRequested = 1, StopRequested = 2;

    private readonly NetDevice _device;
    private readonly int[] _pairIndices;
    private readonly int _cpu;
    private readonly int _wakeFd;
    private readonly SemaphoreSlim _resume = new(0);
    private EpollSet _epoll = new();
    private Thread? _thread;
    private int _control;
    private int _paused;
    private DeviceView _pendingView = DeviceView.Idle;

    // Data-plane state, owned by the worker thread.
    private QueuePair[] _active = [];
    private int _activeCount;
    private GuestMemory _mem = GuestMemory.Empty;
    private DataPathConfig _cfg;
    private IReadOnlyList<Vring> _rings = [];
    private bool _mustPoll;

    protected Worker(NetDevice device, int id, int[] pairIndices, int cpu)
    {
        _device = device;
        Id = id;
        _pairIndices = pairIndices;
        _cpu = cpu;
        _wakeFd = EventFd.Create();
        _epoll.Add(_wakeFd, WakeTag);
    }

    public int Id { get; }

    /// <summary>Linux thread id of the worker thread (0 until it runs), for per-thread CPU time.</summary>
    public int Tid { get; private set; }

    public WorkerCounters Counters { get; } = new();

    public IReadOnlyList<int> PairIndices => _pairIndices;

    /// <summary>Pairs the worker is serving now (tests and stats).</summary>
    public int ActivePairCount => Volatile.Read(ref _activeCount);

    public abstract string StrategyName { get; }

    public void Start()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = $"vhost-worker-{Id}" };
        _thread.Start();
    }

    protected abstract void Loop();

    /// <summary>The strategy's idle decision, once (tests).</summary>
    internal abstract void IdleOnce();

    /// <summary>Tells the strategy a round did work (tests driving rounds themselves).</summary>
    internal abstract void WorkedOnce();

    private void Run()
    {
        Tid = LibC.gettid();
        if (_cpu >= 0 && !Affinity.PinCurrentThread(_cpu))
        {
            Log.Warn($"worker {Id}: could not pin to CPU {_cpu}");
        }
        Affinity.SetTimerSlack(1000);
        Counters.AllocatedAtStart = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            Loop();
        }
        catch (Exception e)
        {
            // A bug, not a guest fault (those are status codes): log it and stop this worker.
            Log.Error($"worker {Id} crashed: {e}");
            Volatile.Write(ref _paused, 1);
        }
    }

    /// <summary>Handles a pause or stop request at a round boundary; false means exit.</summary>
    protected bool OnControl()
    {
        if (Volatile.Read(ref _control) == StopRequested)
        {
            return false;
        }
        Volatile.Write(ref _paused, 1);
        _resume.Wait();
        if (Volatile.Read(ref _control) == StopRequested)
        {
            return false;
        }
        // ApplyView is control-plane work done on this thread: book what it allocates as such,
        // so the counter below shows only what the data plane itself allocates.
        long before = GC.GetAllocatedBytesForCurrentThread();
        ApplyView(_pendingView);
        _controlAllocations += GC.GetAllocatedBytesForCurrentThread() - before;
        RefreshAllocated();
        Volatile.Write(ref _paused, 0);
        return true;
    }

    private long _controlAllocations;
    private long _lastAllocRefresh;
    private static readonly long s_allocRefreshTicks = Clock.NsToTicks(10_000_000);

    /// <summary>Publishes the data plane's own allocation count (this thread's, less the
    /// control-plane work it did); at most every 10 ms from the loop, and at every pause/sleep.</summary>
    protected void RefreshAllocated()
    {
        Counters.AllocatedBytes = GC.GetAllocatedBytesForCurrentThread() - Counters.AllocatedAtStart - _controlAllocations;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    protected void MaybeRefreshAllocated(long now)
    {
        if (now - _lastAllocRefresh > s_allocRefreshTicks)
        {
            _lastAllocRefresh = now;
            RefreshAllocated();
        }
    }

    protected bool ControlRequested => Volatile.Read(ref _control) != Running;

    protected bool HasActivePairs => _activeCount > 0;

    /// <summary>Asks the worker to stop at the next round boundary (returns at once).</summary>
    public void RequestPause()
    {
        if (_thread == null)
        {
            return;
        }
        Volatile.Write(ref _control, PauseRequested);
        EventFd.Signal(_wakeFd);
    }

    /// <summary>Waits until the worker acknowledged the pause.</summary>
    public void WaitPaused()
    {
        if (_thread == null)
        {
            return;
        }
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var spin = new SpinWait();
        while (Volatile.Read(ref _paused) == 0)
        {
            if (sw.ElapsedMilliseconds > 5000)
            {
                throw new TimeoutException($"worker {Id} did not pause within 5 s");
            }
            spin.SpinOnce(sleep1Threshold: -1); // yield, never Thread.Sleep(1): that is 1.09 ms here, per handshake step
        }
    }

    public void Pause()
    {
        RequestPause();
        WaitPaused();
    }

    /// <summary>Hands the worker a new view and waits until it applied it.</summary>
    public void Resume(DeviceView view)
    {
        if (_thread == null)
        {
            ApplyView(view);
            return;
        }
        _pendingView = view;
        Volatile.Write(ref _control, Running);
        _resume.Release();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var spin = new SpinWait();
        while (Volatile.Read(ref _paused) != 0)
        {
            if (sw.ElapsedMilliseconds > 5000)
            {
                throw new TimeoutException($"worker {Id} did not resume within 5 s");
            }
            spin.SpinOnce(sleep1Threshold: -1); // yield, never Thread.Sleep(1): that is 1.09 ms here, per handshake step
        }
    }

    /// <summary>Adopts a view: which pairs are active, the memory, the negotiated data path.
    /// Control-plane work (it may allocate): runs while the control plane waits.</summary>
    public void ApplyView(DeviceView view)
    {
        _mem = view.Memory;
        _rings = view.Vrings;
        ulong f = view.AckedFeatures;
        _cfg = new DataPathConfig(
            _device.Options.Mode,
            _device.Options.Backpressure,
            _device.Options.Batch,
            (uint)Vhost.Net.VirtioNetHeader.SizeFor(f),
            VirtioFeatures.Has(f, VirtioFeatures.NetMrgRxbuf),
            view.Log);
        var active = new List<QueuePair>();
        _mustPoll = false;
        foreach (int pi in _pairIndices)
        {
            QueuePair p = _device.Pairs[pi];
            p.Rx = 2 * pi < view.Vrings.Count ? view.Vrings[2 * pi] : null;
            p.Tx = 2 * pi + 1 < view.Vrings.Count ? view.Vrings[2 * pi + 1] : null;
            bool txOk = p.Tx is { IsActive: true };
            bool rxOk = p.Rx is { IsActive: true };
            bool ok = _cfg.Mode == NetMode.Loopback ? txOk && rxOk : txOk;
            if (!ok)
            {
                p.PendingRarp = null;
                continue;
            }
            p.EnsureScratch((int)Math.Max(p.Tx!.Num, p.Rx?.Num ?? 0), _cfg.Batch, _cfg.Mode == NetMode.Copy);
            p.Packed = p.Tx.IsPacked;
            p.Dead = false;
            p.TxBlocked = false;
            // SEND_RARP: one frame, on pair 0; kept across resumes until a buffer takes it.
            p.PendingRarp = !rxOk ? null : pi == 0 && view.RarpMac != null ? view.RarpMac : p.PendingRarp;
            p.DeviceFault = _device.Fault;
            active.Add(p);
        }
        var epoll = new EpollSet();
        epoll.Add(_wakeFd, WakeTag);
        foreach (QueuePair p in active)
        {
            foreach (Vring? v in new[] { p.Rx, p.Tx })
            {
                if (v is not { IsActive: true })
                {
                    continue;
                }
                // Used-ring writes go to the dirty log while LOG_ALL is on and the front-end set
                // the ring's log flag (reference §6.4).
                DirtyLog? usedLog = view.Log != null && v.LogUsed ? view.Log : null;
                if (v.IsPacked)
                {
                    v.Packed.SetUsedLog(usedLog, v.PackedDescGpa, v.PackedDeviceEventGpa);
                }
                else
                {
                    v.Split.SetUsedLog(usedLog, v.UsedLogGpa);
                }
                // Kicks off while processing; the idle strategy re-arms them before sleeping.
                v.DisableKicks();
                if (v.KickFd >= 0)
                {
                    epoll.Add(v.KickFd, (ulong)v.Index);
                }
                else
                {
                    _mustPoll = true; // NOFD: the front-end will never kick this ring
                }
            }
        }
        _epoll.Dispose();
        _epoll = epoll;
        _active = active.ToArray();
        Volatile.Write(ref _activeCount, _active.Length);
    }

    /// <summary>
    /// One round over every active pair. Returns the chains completed. Allocation-free.
    /// </summary>
    public int DoWork()
    {
        GuestMemory mem = _mem;
        int work = 0;
        QueuePair[] active = _active;
        for (int i = 0; i < active.Length; i++)
        {
            QueuePair p = active[i];
            if (p.Dead)
            {
                continue;
            }
            if (p.PendingRarp != null && InjectRarp(p, mem))
            {
                p.PendingRarp = null;
                work++;
            }
            // One predictable branch per pair; each call is specialised for its ring layout.
            if (p.Packed)
            {
                work += _cfg.Mode == NetMode.Loopback
                    ? NetDataPath.Loopback(p, ref p.Tx!.Packed, ref p.Rx!.Packed, mem, in _cfg)
                    : NetDataPath.Sink(p, ref p.Tx!.Packed, mem, in _cfg);
            }
            else
            {
                work += _cfg.Mode == NetMode.Loopback
                    ? NetDataPath.Loopback(p, ref p.Tx!.Split, ref p.Rx!.Split, mem, in _cfg)
                    : NetDataPath.Sink(p, ref p.Tx!.Split, mem, in _cfg);
            }
        }
        return work;
    }

    private bool InjectRarp(QueuePair p, GuestMemory mem) => p.Packed
        ? NetDataPath.InjectRarp(p, ref p.Rx!.Packed, mem, _cfg.HdrLen, p.PendingRarp!, _cfg.Log)
        : NetDataPath.InjectRarp(p, ref p.Rx!.Split, mem, _cfg.HdrLen, p.PendingRarp!, _cfg.Log);

    /// <summary>Re-enables kicks on the rings this worker waits on; true if work is pending.</summary>
    internal bool ArmAll()
    {
        if (_mustPoll)
        {
            return true;
        }
        bool pending = false;
        QueuePair[] active = _active;
        for (int i = 0; i < active.Length; i++)
        {
            QueuePair p = active[i];
            if (p.Dead)
            {
                continue;
            }
            if (p.PendingRarp != null)
            {
                pending = true;
            }
            // Loopback blocked on a full RX waits for RX buffers, otherwise for TX frames.
            pending |= _cfg.Mode == NetMode.Loopback && p.TxBlocked
                ? p.Rx!.EnableKicks()
                : p.Tx!.EnableKicks();
        }
        return pending;
    }

    /// <summary>Calls signalled so far on the rings this worker serves: a call means the guest
    /// was asleep (the hybrid strategy's view of its peer).</summary>
    internal long CallsSent
    {
        get
        {
            long n = 0;
            QueuePair[] active = _active;
            for (int i = 0; i < active.Length; i++)
            {
                QueuePair p = active[i];
                n += p.Tx!.Counters.Calls + (p.Rx?.Counters.Calls ?? 0);
            }
            return n;
        }
    }

    internal void DisarmAll()
    {
        QueuePair[] active = _active;
        for (int i = 0; i < active.Length; i++)
        {
            QueuePair p = active[i];
            if (!p.Dead)
            {
                p.Tx!.DisableKicks();
                p.Rx?.DisableKicks();
            }
        }
    }

    /// <summary>Sleeps in epoll until a kick, a control request or stop; drains what fired.</summary>
    internal void Block()
    {
        Span<ulong> ready = stackalloc ulong[16];
        Counters.Sleeps++;
        RefreshAllocated();
        int n = _epoll.Wait(ready, -1);
        Counters.Wakeups++;
        bool kicked = false;
        for (int i = 0; i < n; i++)
        {
            ulong tag = ready[i];
            if (tag == WakeTag)
            {
                EventFd.Drain(_wakeFd);
                continue;
            }
            Vring v = _rings[(int)tag];
            ulong kicks = v.KickFd >= 0 ? EventFd.Drain(v.KickFd) : 0;
            v.Counters.Kicks += (long)kicks;
            kicked |= kicks != 0;
        }
        if (!kicked)
        {
            Counters.SpuriousWakeups++;
        }
    }

    public void Stop()
    {
        if (_thread == null)
        {
            return;
        }
        Volatile.Write(ref _control, StopRequested);
        EventFd.Signal(_wakeFd);
        _resume.Release();
        if (!_thread.Join(5000))
        {
            Log.Error($"worker {Id} did not stop within 5 s");
        }
        _thread = null;
    }

    public void Dispose()
    {
        Stop();
        _epoll.Dispose();
        LibC.CloseQuietly(_wakeFd);
        _resume.Dispose();
    }
}

/// <summary>A worker specialised for one idle strategy (a struct, so its calls inline).</summary>
public sealed class Worker<TIdle> : Worker where TIdle : struct, IIdleStrategy
{
    // Mutable strategy state: must not be readonly (a readonly field would be copied per call).
    private TIdle _idle;

    public Worker(NetDevice device, int id, int[] pairIndices, int cpu, TIdle idle, string name)
        : base(device, id, pairIndices, cpu)
    {
        _idle = idle;
        StrategyName = name;
    }

    public override string StrategyName { get; }

    protected override void Loop()
    {
        var target = new BackendWaitTarget(this);
        WorkerCounters c = Counters;
        while (true)
        {
            if (ControlRequested)
            {
                if (!OnControl())
                {
                    return;
                }
                continue;
            }
            if (!HasActivePairs)
            {
                Block();
                continue;
            }
            long t0 = Clock.Now();
            int work = DoWork();
            c.Rounds++;
            MaybeRefreshAllocated(t0);
            if (work > 0)
            {
                c.BusyTicks += Clock.Now() - t0;
                _idle.OnWork();
            }
            else
            {
                c.EmptyPolls++;
                _idle.Idle(ref target);
            }
        }
    }

    /// <summary>
    /// Runs the strategy's idle decision once (tests: call it when the guest has just posted
    /// work, so that an interrupt strategy's arm-and-re-check finds it and does not block).
    /// </summary>
    internal override void IdleOnce()
    {
        var target = new BackendWaitTarget(this);
        _idle.Idle(ref target);
    }

    internal override void WorkedOnce() => _idle.OnWork();

    /// <summary>One round plus idle decision, for tests driving the worker on their own thread.</summary>
    public int RunOnce()
    {
        var target = new BackendWaitTarget(this);
        int work = DoWork();
        if (work > 0)
        {
            _idle.OnWork();
        }
        else
        {
            _idle.Idle(ref target);
        }
        return work;
    }
}

/// <summary>The back-end's wait target: kicks on the rings a worker serves.</summary>
public readonly struct BackendWaitTarget : IWaitTarget
{
    private readonly Worker _worker;

    public BackendWaitTarget(Worker worker) => _worker = worker;

    public bool Arm() => _worker.ArmAll();

    public void Disarm() => _worker.DisarmAll();

    public void Block() => _worker.Block();

    public long NsUntilDeadline => long.MaxValue;

    public long NotificationsSent => _worker.CallsSent;
}

using Microsoft.Extensions.Logging;
using PerfLab.Backend.Logging;
using PerfLab.Backend.Rings;
using PerfLab.Backend.Workers;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Backend.Devices;

/// <summary>
/// The virtio-net device: queue pairs, each polled by one worker. A pause takes the device's
/// pollers back from its workers (other owners' pollers keep running); a resume builds a
/// poller for every pair the view makes active and hands it to the pair's worker. Workers
/// sleep while they have nothing to poll, so an idle daemon uses no CPU whatever the strategy.
/// </summary>
public sealed class NetDevice : IVhostDevice
{
    private readonly WorkerPool _pool;
    private readonly bool _ownsPool;
    private readonly Worker[] _workerOfPair;
    private readonly Worker[] _workers; // distinct, in pool order

    /// <summary>A device with a pool of its own: one worker per
    /// <see cref="NetDeviceOptions.PairsPerWorker"/> pairs, pinned as <see cref="NetDeviceOptions.Cpus"/> says.</summary>
    public NetDevice(NetDeviceOptions options, bool startThreads = true)
        : this(options, OwnPool(options, startThreads), null, Log.Default, ownsPool: true)
    {
    }

    /// <summary>A device polled by workers of a shared <paramref name="pool"/>: pair p by
    /// <paramref name="workerOfPair"/>(p).</summary>
    public NetDevice(NetDeviceOptions options, WorkerPool pool, Func<int, Worker> workerOfPair, ILogger logger)
        : this(options, pool, workerOfPair, logger, ownsPool: false)
    {
    }

    private NetDevice(NetDeviceOptions options, WorkerPool pool, Func<int, Worker>? workerOfPair, ILogger logger, bool ownsPool)
    {
        if (options.MaxQueuePairs < 1 || options.MaxQueuePairs > Vhost.Net.NetQueues.MaxQueuePairs)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"queue pairs must be 1..{Vhost.Net.NetQueues.MaxQueuePairs}");
        }
        Options = options;
        _pool = pool;
        _ownsPool = ownsPool;
        Pairs = Enumerable.Range(0, options.MaxQueuePairs).Select(i => new QueuePair(i)).ToArray();
        int per = Math.Max(1, options.PairsPerWorker);
        workerOfPair ??= p => pool[p / per % pool.Count];
        _workerOfPair = Pairs.Select(p => workerOfPair(p.Index)).ToArray();
        Logger = logger;
        _workers = pool.Workers.Where(w => _workerOfPair.Contains(w)).ToArray();
    }

    private static WorkerPool OwnPool(NetDeviceOptions o, bool start)
    {
        int per = Math.Max(1, o.PairsPerWorker);
        return new WorkerPool((Math.Max(1, o.MaxQueuePairs) + per - 1) / per, o.Poll, o.Cpus, start);
    }

    public NetDeviceOptions Options { get; }

    public QueuePair[] Pairs { get; }

    /// <summary>The workers that poll this device's pairs.</summary>
    public IReadOnlyList<Worker> Workers => _workers;

    /// <summary>The queue pairs <paramref name="w"/> polls for this device.</summary>
    public IEnumerable<int> PairsOf(Worker w) => Pairs.Where(p => _workerOfPair[p.Index] == w).Select(p => p.Index);

    public FaultFlag NeedsReset { get; } = new();

    /// <summary>Where the device's records go.</summary>
    public ILogger Logger { get; }

    /// <summary>Times the control plane took the device's queues back from the workers.</summary>
    public long Pauses => Volatile.Read(ref _pauses);

    private long _pauses;

    private bool _withdrawn; // guest memory was revoked: nothing may touch the rings until Resume

    public ulong OfferedFeatures =>
        NetDeviceOptions.SupportedFeatures
        & ~Options.DisabledFeatures
        & (Options.MaxQueuePairs > 1 ? ulong.MaxValue : ~VirtioFeatures.NetMq)
        & ((OfferedProtocolFeatures & ProtocolFeatures.LogShmfd) != 0 ? ulong.MaxValue : ~VirtioFeatures.LogAll);

    public ulong OfferedProtocolFeatures => NetDeviceOptions.SupportedProtocolFeatures & ~Options.DisabledProtocolFeatures;

    public int MaxQueuePairs => Options.MaxQueuePairs;

    /// <summary>Takes this device's pollers back from every worker; returns when none runs them.</summary>
    public void Pause()
    {
        Interlocked.Increment(ref _pauses);
        Hand(_workers.Select(w => (w, (IReadOnlyList<QueuePoller>)[])));
        ReturnHeldTx();
    }

    /// <summary>
    /// No worker runs the pairs now: gives back the TX bursts <see cref="TxReturnRule"/> held, so
    /// that the rings stop (or move to new memory) with every buffer taken returned (a ring
    /// resumed at used.idx would otherwise take them again), unless guest memory was revoked.
    /// </summary>
    private void ReturnHeldTx()
    {
        bool withdrawn = Volatile.Read(ref _withdrawn);
        foreach (QueuePair p in Pairs)
        {
            p.TxHold = default;
            Vring? v = p.Tx;
            if (withdrawn || p.Dead || v is not { Started: true } || v.IsPacked || v.IsBroken)
            {
                continue;
            }
            NetDataPath.FlushTx(p, ref v.Split);
        }
    }

    /// <summary>Builds a poller for each pair the view makes active (control-plane work: it may
    /// allocate) and hands each to its worker; returns when they run.</summary>
    public void Resume(DeviceView view)
    {
        Volatile.Write(ref _withdrawn, false);
        ulong f = view.AckedFeatures;
        var cfg = new DataPathConfig(
            Options.Mode,
            Options.Backpressure,
            Options.Batch,
            (uint)Vhost.Net.VirtioNetHeader.SizeFor(f),
            VirtioFeatures.Has(f, VirtioFeatures.NetMrgRxbuf),
            view.Log,
            TxReturnRule.Effective(Options.TxReturn, Options.Poll),
            Options.CopySlots);
        var byWorker = _workers.ToDictionary(w => w, _ => new List<QueuePoller>());
        foreach (QueuePair p in Pairs)
        {
            if (Activate(p, view, cfg) is { } poller)
            {
                byWorker[_workerOfPair[p.Index]].Add(poller);
            }
        }
        Hand(byWorker.Select(kv => (kv.Key, (IReadOnlyList<QueuePoller>)kv.Value)));
    }

    /// <summary>Takes this device's pollers back without waiting: callable from a worker thread
    /// (after a fault on revoked guest memory, <see cref="PerfLab.Vhost.Memory.GuestMemoryFaults"/>),
    /// which adopts it at its next round boundary, before it polls again. A later
    /// <see cref="Pause"/> completes it.</summary>
    public void Withdraw()
    {
        Volatile.Write(ref _withdrawn, true);
        foreach (Worker w in _workers)
        {
            w.Begin(this, []);
        }
    }

    /// <summary>Registers each worker's new set first and waits for them after, so that the
    /// workers' round boundaries overlap.</summary>
    private void Hand(IEnumerable<(Worker Worker, IReadOnlyList<QueuePoller> Pollers)> sets)
    {
        var pending = sets.Select(s => (s.Worker, Ticket: s.Worker.Begin(this, s.Pollers))).ToList();
        foreach (var (w, ticket) in pending)
        {
            w.Complete(ticket);
        }
    }

    /// <summary>Prepares pair <paramref name="p"/> for the view (no worker runs it now) and
    /// returns its poller, or null if the view does not make it active.</summary>
    private QueuePoller? Activate(QueuePair p, DeviceView view, in DataPathConfig cfg)
    {
        int pi = p.Index;
        p.Rx = 2 * pi < view.Vrings.Count ? view.Vrings[2 * pi] : null;
        p.Tx = 2 * pi + 1 < view.Vrings.Count ? view.Vrings[2 * pi + 1] : null;
        bool txOk = p.Tx is { IsActive: true };
        bool rxOk = p.Rx is { IsActive: true } && p.Rx.Layout == p.Tx?.Layout;
        if (!(cfg.Mode == NetMode.Loopback ? txOk && rxOk : txOk))
        {
            p.PendingRarp = null;
            return null;
        }
        p.EnsureScratch((int)Math.Max(p.Tx!.Num, p.Rx?.Num ?? 0), cfg.Batch, cfg.Mode == NetMode.Copy, cfg.CopySlots);
        p.Dead = false;
        p.TxBlocked = false;
        // SEND_RARP: one frame, on pair 0; kept across resumes until a buffer takes it.
        p.PendingRarp = !rxOk ? null : pi == 0 && view.RarpMac != null ? view.RarpMac : p.PendingRarp;
        p.DeviceFault = NeedsReset;
        p.Logger = Logger;
        foreach (Vring? v in (Vring?[])[p.Rx, p.Tx])
        {
            if (v is { IsActive: true })
            {
                // Used-ring writes go to the dirty log while LOG_ALL is on and the front-end set
                // the ring's log flag (docs/protocol.md#dirty-log).
                v.Layout!.SetUsedLog(v, view.Log != null && v.LogUsed ? view.Log : null);
            }
        }
        QueuePoller poller = p.Tx.Layout!.Specialise(new PollerFactory(this, p, view.Memory, cfg));
        // Kicks off while processing; the idle strategy re-arms them before sleeping.
        poller.Disarm();
        return poller;
    }

    /// <summary>Builds the pair's poller for its rings' layout.</summary>
    private sealed class PollerFactory(NetDevice device, QueuePair p, GuestMemory mem, DataPathConfig cfg) : IVringLayoutUser<QueuePoller>
    {
        public QueuePoller Use<TRing, TAccess>()
            where TRing : struct, Vhost.Virtq.IDeviceRing
            where TAccess : struct, IVringAccess<TRing> =>
            new NetPairPoller<TRing, TAccess>(device, p, mem, cfg);
    }

    public void Dispose()
    {
        Hand(_workers.Select(w => (w, (IReadOnlyList<QueuePoller>)[])));
        if (_ownsPool)
        {
            _pool.Dispose();
        }
        foreach (QueuePair p in Pairs)
        {
            p.Dispose();
        }
    }
}

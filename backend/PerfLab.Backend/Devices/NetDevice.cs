using PerfLab.Backend.Workers;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Protocol;

namespace PerfLab.Backend.Devices;

/// <summary>
/// The virtio-net device: queue pairs served by workers. Workers are created up front (one per
/// <see cref="NetDeviceOptions.PairsPerWorker"/> pairs) and block on an eventfd while they
/// have nothing to serve, so an idle daemon uses no CPU whatever the strategy.
/// </summary>
public sealed class NetDevice : IVhostDevice
{
    private readonly Worker[] _workers;

    public NetDevice(NetDeviceOptions options, bool startThreads = true)
    {
        if (options.MaxQueuePairs < 1 || options.MaxQueuePairs > Vhost.Net.NetQueues.MaxQueuePairs)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"queue pairs must be 1..{Vhost.Net.NetQueues.MaxQueuePairs}");
        }
        Options = options;
        Pairs = Enumerable.Range(0, options.MaxQueuePairs).Select(i => new QueuePair(i)).ToArray();
        int per = Math.Max(1, options.PairsPerWorker);
        int count = (options.MaxQueuePairs + per - 1) / per;
        _workers = new Worker[count];
        for (int w = 0; w < count; w++)
        {
            int[] pairs = Enumerable.Range(w * per, Math.Min(per, options.MaxQueuePairs - w * per)).ToArray();
            int cpu = options.Cpus is { Length: > 0 } cpus ? cpus[w % cpus.Length] : -1;
            _workers[w] = CreateWorker(w, pairs, cpu);
        }
        if (startThreads)
        {
            foreach (Worker w in _workers)
            {
                w.Start();
            }
        }
    }

    public NetDeviceOptions Options { get; }

    public QueuePair[] Pairs { get; }

    public IReadOnlyList<Worker> Workers => _workers;

    public FaultFlag Fault { get; } = new();

    public ulong OfferedFeatures =>
        NetDeviceOptions.SupportedFeatures
        & ~Options.DisabledFeatures
        & (Options.MaxQueuePairs > 1 ? ulong.MaxValue : ~VirtioFeatures.NetMq)
        & ((OfferedProtocolFeatures & ProtocolFeatures.LogShmfd) != 0 ? ulong.MaxValue : ~VirtioFeatures.LogAll);

    public ulong OfferedProtocolFeatures => NetDeviceOptions.SupportedProtocolFeatures & ~Options.DisabledProtocolFeatures;

    public int MaxQueuePairs => Options.MaxQueuePairs;

    public bool NeedsReset => Fault.IsRaised;

    public void ClearNeedsReset() => Fault.Clear();

    public void RaiseNeedsReset() => Fault.Raise();

    public void Pause()
    {
        foreach (Worker w in _workers)
        {
            w.RequestPause();
        }
        foreach (Worker w in _workers)
        {
            w.WaitPaused();
        }
    }

    public void Resume(DeviceView view)
    {
        foreach (Worker w in _workers)
        {
            w.Resume(view);
        }
    }

    private Worker CreateWorker(int id, int[] pairs, int cpu)
    {
        PollOptions p = Options.Poll;
        string name = p.Describe();
        return p.Mode switch
        {
            PollMode.Busy => new Worker<BusyPoll>(this, id, pairs, cpu, default, name),
            PollMode.Interrupt => new Worker<Interrupt>(this, id, pairs, cpu, PollOptions.CreateInterrupt(), name),
            PollMode.Hybrid => new Worker<Hybrid>(this, id, pairs, cpu, p.CreateHybrid(), name),
            PollMode.Backoff => new Worker<Backoff>(this, id, pairs, cpu, p.CreateBackoff(), name),
            _ => throw new ArgumentOutOfRangeException(nameof(p.Mode)),
        };
    }

    public void Dispose()
    {
        foreach (Worker w in _workers)
        {
            w.Dispose();
        }
        foreach (QueuePair p in Pairs)
        {
            p.Dispose();
        }
    }
}

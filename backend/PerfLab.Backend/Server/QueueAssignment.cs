namespace PerfLab.Backend.Server;

/// <summary>
/// Which worker polls each device's queue pair. Pinned pairs (<see cref="BackendOptions.QueueAffinity"/>)
/// go where they are pinned; the others are dealt in blocks of <c>block</c> pairs, round-robin
/// over the workers, in the order pair 0 of every device, then pair 1 of every device, and so
/// on: the pairs front-ends use first spread over the workers first. With one device this is
/// pair p on worker (p / block) % workers.
/// </summary>
public sealed class QueueAssignment
{
    private readonly int _devices;
    private readonly int _workers;
    private readonly int _block;
    private readonly IReadOnlyDictionary<(int Device, int Pair), int> _affinity;

    public QueueAssignment(int devices, int workers, int block, IReadOnlyDictionary<(int Device, int Pair), int>? affinity = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(devices, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        _devices = devices;
        _workers = workers;
        _block = Math.Max(1, block);
        _affinity = affinity ?? new Dictionary<(int, int), int>();
        foreach (var (key, w) in _affinity)
        {
            if (w < 0 || w >= workers)
            {
                throw new ArgumentException($"queue affinity {key.Device}:{key.Pair}={w}: workers are 0..{workers - 1}");
            }
            if (key.Device < 0 || key.Device >= devices)
            {
                throw new ArgumentException($"queue affinity {key.Device}:{key.Pair}={w}: devices are 0..{devices - 1}");
            }
        }
    }

    public int WorkerOf(int device, int pair) =>
        _affinity.TryGetValue((device, pair), out int w) ? w : (pair * _devices + device) / _block % _workers;
}

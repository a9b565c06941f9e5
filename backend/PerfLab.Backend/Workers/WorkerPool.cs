using PerfLab.Vhost.Polling;

namespace PerfLab.Backend.Workers;

/// <summary>The data-plane workers of a back-end, all under one polling strategy; worker i is
/// pinned to <c>cpus[i % cpus.Length]</c> (null: not pinned).</summary>
public sealed class WorkerPool : IDisposable
{
    private readonly Worker[] _workers;

    public WorkerPool(int count, PollOptions poll, int[]? cpus, bool start = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        _workers = new Worker[count];
        for (int i = 0; i < count; i++)
        {
            _workers[i] = Worker.Create(i, poll, cpus is { Length: > 0 } ? cpus[i % cpus.Length] : -1);
        }
        if (start)
        {
            foreach (Worker w in _workers)
            {
                w.Start();
            }
        }
    }

    public IReadOnlyList<Worker> Workers => _workers;

    public Worker this[int i] => _workers[i];

    public int Count => _workers.Length;

    public void Dispose()
    {
        foreach (Worker w in _workers)
        {
            w.Dispose();
        }
    }
}

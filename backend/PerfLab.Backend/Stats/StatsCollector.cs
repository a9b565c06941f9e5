using PerfLab.Backend.Devices;
using PerfLab.Backend.Rings;
using PerfLab.Backend.Workers;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Net;

namespace PerfLab.Backend.Stats;

/// <summary>Builds <see cref="BackendStats"/> snapshots from the device's counters.</summary>
public sealed class StatsCollector
{
    private readonly NetDevice _device;
    private readonly Vring[] _vrings;
    private readonly long _start = System.Diagnostics.Stopwatch.GetTimestamp();
    private readonly Func<int> _sessions;

    public StatsCollector(NetDevice device, Vring[] vrings, Func<int> sessions)
    {
        _device = device;
        _vrings = vrings;
        _sessions = sessions;
    }

    private static long s_ownAllocations;

    /// <summary>
    /// Runs <paramref name="work"/> (stats serving, printing) and books what it allocates on
    /// this thread as the stats machinery's own, so that snapshots report what the rest of the
    /// process (the data plane above all) allocated. Exact: the counter is per thread.
    /// </summary>
    public static T Accounted<T>(Func<T> work)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            return work();
        }
        finally
        {
            Interlocked.Add(ref s_ownAllocations, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }

    public BackendStats Snapshot()
    {
        long own = Interlocked.Read(ref s_ownAllocations);
        CpuTime cpu = CpuTime.Process();
        GcSnapshot gc = GcSnapshot.Take();
        long total = gc.AllocatedBytes;
        gc = gc with { AllocatedBytes = gc.AllocatedBytes - own };
        int pid = Environment.ProcessId;
        var queues = new List<QueueStats>();
        int rings = Math.Min(_vrings.Length, 2 * _device.MaxQueuePairs);
        for (int i = 0; i < rings; i++)
        {
            Vring v = _vrings[i];
            QueueCounters c = v.Counters;
            if (c.Packets == 0 && c.Calls == 0 && c.Kicks == 0 && c.Faults == 0 && !v.Started)
            {
                continue;
            }
            queues.Add(new QueueStats
            {
                Index = i,
                Pair = NetQueues.PairOf(i),
                Direction = NetQueues.IsTx(i) ? "tx" : "rx",
                Packets = c.Packets,
                Bytes = c.Bytes,
                Batches = c.Batches,
                BatchHistogram = (long[])c.BatchHistogram.Clone(),
                Kicks = c.Kicks,
                Calls = c.Calls,
                CallsSuppressed = c.CallsSuppressed,
                Rejected = c.Rejected,
                Dropped = c.Dropped,
                Truncated = c.Truncated,
                RxFull = c.RxFull,
                Faults = c.Faults,
                Started = v.Started,
                Enabled = v.Enabled,
                Fault = v.IsBroken ? v.Fault.ToString() : "",
            });
        }
        var workers = new List<WorkerStats>();
        foreach (Worker w in _device.Workers)
        {
            WorkerCounters c = w.Counters;
            workers.Add(new WorkerStats
            {
                Id = w.Id,
                Tid = w.Tid,
                Pairs = _device.PairsOf(w).ToArray(),
                Rounds = c.Rounds,
                EmptyPolls = c.EmptyPolls,
                Sleeps = c.Sleeps,
                Wakeups = c.Wakeups,
                SpuriousWakeups = c.SpuriousWakeups,
                BusyNs = (long)Clock.TicksToNs(c.BusyTicks),
                CpuNs = w.Tid > 0 ? ThreadCpuNs(pid, w.Tid) : 0,
                AllocatedBytes = c.AllocatedBytes,
                Running = w.Runner.IsRunning,
                Pollers = w.ActivePairCount,
            });
        }
        return new BackendStats
        {
            TimestampNs = (long)(System.Diagnostics.Stopwatch.GetTimestamp() * (1e9 / System.Diagnostics.Stopwatch.Frequency)),
            UptimeS = System.Diagnostics.Stopwatch.GetElapsedTime(_start).TotalSeconds,
            Pid = pid,
            Mode = _device.Options.Mode.ToString().ToLowerInvariant(),
            Strategy = _device.Options.Poll.Describe(),
            Sessions = _sessions(),
            CpuUserNs = cpu.UserNs,
            CpuSysNs = cpu.SysNs,
            Gen0 = gc.Gen0,
            Gen1 = gc.Gen1,
            Gen2 = gc.Gen2,
            AllocatedBytes = gc.AllocatedBytes,
            TotalAllocatedBytes = total,
            HeapBytes = GC.GetTotalMemory(forceFullCollection: false),
            ForcedCollections = HeapProbe.ForcedCollections, // first: the live figure is at least as new
            LiveHeapBytes = HeapProbe.LiveBytes,
            Queues = queues,
            Workers = workers,
        };
    }

    /// <summary>One thread's CPU time from /proc (ns resolution), 0 if unavailable.</summary>
    public static long ThreadCpuNs(int pid, int tid)
    {
        try
        {
            string s = File.ReadAllText($"/proc/{pid}/task/{tid}/schedstat");
            int sp = s.IndexOf(' ');
            return long.Parse(sp < 0 ? s : s[..sp], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return 0;
        }
    }
}

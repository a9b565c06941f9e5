using PerfLab.Backend.Devices;
using PerfLab.Backend.Rings;
using PerfLab.Backend.Server;
using PerfLab.Backend.Workers;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Net;

namespace PerfLab.Backend.Stats;

/// <summary>Builds <see cref="BackendStats"/> snapshots (docs/stats.md) from every device's
/// and worker's counters.</summary>
public sealed class StatsCollector
{
    private readonly VhostUserServer _server;
    private readonly long _start = System.Diagnostics.Stopwatch.GetTimestamp();

    public StatsCollector(VhostUserServer server) => _server = server;

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
        var devices = new List<DeviceStats>();
        var queues = new List<QueueStats>();
        for (int d = 0; d < _server.Devices.Count; d++)
        {
            DeviceEndpoint? e = _server.Devices[d];
            if (e == null)
            {
                devices.Add(new DeviceStats { Id = d, Socket = _server.Options.SocketPaths[d], Error = _server.ErrorOf(d) });
                continue;
            }
            int first = queues.Count;
            AddQueues(d, e.Device, e.Vrings, queues);
            List<QueueStats> mine = queues.GetRange(first, queues.Count - first);
            devices.Add(new DeviceStats
            {
                Id = d,
                Socket = e.SocketPath,
                Connected = e.CurrentSession != null,
                Sessions = e.SessionsServed,
                Pauses = e.Device.Pauses,
                Packets = mine.Where(q => q.Direction == "tx").Sum(q => q.Packets),
                Bytes = mine.Where(q => q.Direction == "tx").Sum(q => q.Bytes),
                Delivered = mine.Where(q => q.Direction == "rx").Sum(q => q.Packets),
                Faults = mine.Sum(q => q.Faults),
                NeedsReset = e.Device.NeedsReset.IsRaised,
            });
        }
        var workers = new List<WorkerStats>();
        foreach (Worker w in _server.Workers)
        {
            WorkerCounters c = w.Counters;
            var served = new List<WorkerQueue>();
            for (int d = 0; d < _server.Devices.Count; d++)
            {
                if (_server.Devices[d] is { } e)
                {
                    served.AddRange(e.Device.PairsOf(w).Select(p => new WorkerQueue(d, p)));
                }
            }
            workers.Add(new WorkerStats
            {
                Id = w.Id,
                Tid = w.Tid,
                Queues = served,
                Pairs = served.Select(q => q.Pair).ToArray(),
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
                Poll = PollDecisions.From(w.PollStats),
            });
        }
        return new BackendStats
        {
            TimestampNs = (long)(System.Diagnostics.Stopwatch.GetTimestamp() * (1e9 / System.Diagnostics.Stopwatch.Frequency)),
            UptimeS = System.Diagnostics.Stopwatch.GetElapsedTime(_start).TotalSeconds,
            Pid = pid,
            Mode = _server.Options.Device.Mode.ToString().ToLowerInvariant(),
            Strategy = _server.Options.Device.Poll.Describe(),
            Sessions = _server.SessionsServed,
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
            Devices = devices,
            Queues = queues,
            Workers = workers,
        };
    }

    /// <summary>The queues of one device that ever ran or counted something.</summary>
    private static void AddQueues(int device, NetDevice dev, Vring[] vrings, List<QueueStats> queues)
    {
        int rings = Math.Min(vrings.Length, 2 * dev.MaxQueuePairs);
        for (int i = 0; i < rings; i++)
        {
            Vring v = vrings[i];
            QueueCounters c = v.Counters;
            if (c.Packets == 0 && c.Calls == 0 && c.Kicks == 0 && c.Faults == 0 && !v.Started)
            {
                continue;
            }
            queues.Add(new QueueStats
            {
                Device = device,
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

using System.Text.Json;
using System.Text.Json.Serialization;
using PerfLab.Vhost.Transport;

namespace PerfLab.Vhost.Diagnostics;

/// <summary>
/// The back-end's counters at one instant, as served on its stats socket and written by
/// <c>--stats-json</c>. Two snapshots bracketing a window give that window's figures (see
/// <see cref="StatsClient"/>). Field names are snake_case in JSON.
/// </summary>
public sealed record BackendStats
{
    public long TimestampNs { get; init; }
    public double UptimeS { get; init; }
    public int Pid { get; init; }
    public string Mode { get; init; } = "";
    public string Strategy { get; init; } = "";
    public int Sessions { get; init; }
    public long CpuUserNs { get; init; }
    public long CpuSysNs { get; init; }
    public int Gen0 { get; init; }
    public int Gen1 { get; init; }
    public int Gen2 { get; init; }
    /// <summary>Allocated by the whole process (less the stats machinery's own).</summary>
    public long AllocatedBytes { get; init; }
    /// <summary>Allocated by the whole process, the stats machinery included: with no GC, this
    /// is what the managed heap has grown by (scripts/soak accounts RSS with it).</summary>
    public long TotalAllocatedBytes { get; init; }
    /// <summary>One entry per device (socket), in device order (docs/stats.md).</summary>
    public List<DeviceStats> Devices { get; init; } = [];
    /// <summary>The managed heap now, garbage included (GC.GetTotalMemory without a GC).</summary>
    public long HeapBytes { get; init; }
    /// <summary>GCs forced by heap probes (SIGUSR1); each also counts in gen0, gen1 and gen2.</summary>
    public int ForcedCollections { get; init; }
    /// <summary>Bytes alive after the last forced GC (-1: no probe yet).</summary>
    public long LiveHeapBytes { get; init; } = -1;
    public List<QueueStats> Queues { get; init; } = [];
    public List<WorkerStats> Workers { get; init; } = [];

    /// <summary>Frames the device took from the guest (TX queues); RX queues count what it
    /// delivered, so summing both would count a looped-back frame twice.</summary>
    public long Packets => Queues.Where(q => q.Direction == "tx").Sum(q => q.Packets);
    public long Bytes => Queues.Where(q => q.Direction == "tx").Sum(q => q.Bytes);
    public long Delivered => Queues.Where(q => q.Direction == "rx").Sum(q => q.Packets);
    public long BusyNs => Workers.Sum(w => w.BusyNs);
    public long CpuNs => CpuUserNs + CpuSysNs;
    /// <summary>Allocated by the data-plane worker threads since they started.</summary>
    public long DataPlaneAllocatedBytes => Workers.Sum(w => w.AllocatedBytes);

    public string ToJson(bool indented = false) => JsonSerializer.Serialize(this, indented ? Json.Indented : Json.Compact);

    public static BackendStats FromJson(string json) =>
        JsonSerializer.Deserialize<BackendStats>(json, Json.Compact) ?? throw new InvalidDataException("empty stats");
}

public sealed record DeviceStats
{
    public int Id { get; init; }
    public string Socket { get; init; } = "";
    public bool Connected { get; init; }
    public int Sessions { get; init; }
    public long Pauses { get; init; }
    public long Packets { get; init; }
    public long Bytes { get; init; }
    public long Delivered { get; init; }
    public long Faults { get; init; }
    public bool NeedsReset { get; init; }
    public string Error { get; init; } = "";
}

public sealed record QueueStats
{
    public int Device { get; init; }
    public int Index { get; init; }
    public int Pair { get; init; }
    public string Direction { get; init; } = "";
    public long Packets { get; init; }
    public long Bytes { get; init; }
    public long Batches { get; init; }
    public long[] BatchHistogram { get; init; } = [];
    public long Kicks { get; init; }
    public long Calls { get; init; }
    public long CallsSuppressed { get; init; }
    public long Rejected { get; init; }
    public long Dropped { get; init; }
    public long Truncated { get; init; }
    public long RxFull { get; init; }
    public long Faults { get; init; }
    public bool Started { get; init; }
    public bool Enabled { get; init; }
    public string Fault { get; init; } = "";
}

public sealed record WorkerStats
{
    public int Id { get; init; }
    public int Tid { get; init; }
    public List<WorkerQueue> Queues { get; init; } = [];
    public int[] Pairs { get; init; } = [];
    public long Rounds { get; init; }
    public long EmptyPolls { get; init; }
    public long Sleeps { get; init; }
    public long Wakeups { get; init; }
    public long SpuriousWakeups { get; init; }
    public long BusyNs { get; init; }
    public long CpuNs { get; init; }
    public long AllocatedBytes { get; init; }
    /// <summary>The worker's thread runs (false: not started yet, stopped, or crashed).</summary>
    public bool Running { get; init; }
    /// <summary>Queue pollers it runs now (0 while no session has running rings).</summary>
    public int Pollers { get; init; }

    /// <summary>The idle strategy's decisions: sleeps by length, budget, probes (null for busy
    /// polling). docs/polling.md#what-the-statistics-say</summary>
    public Polling.PollDecisions? Poll { get; init; }
}

/// <summary>A queue pair a worker polls.</summary>
public sealed record WorkerQueue(int Device, int Pair);

/// <summary>Shared JSON settings (snake_case, as every PerfLab JSON output).</summary>
public static class Json
{
    public static readonly JsonSerializerOptions Compact = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static readonly JsonSerializerOptions Indented = new(Compact) { WriteIndented = true };
}

/// <summary>
/// Reads the back-end's stats socket: connect, read one JSON document until EOF. This is the
/// documented way for the load generator and the bench to get the back-end's counters and CPU
/// time (<c>perflab-backend --stats-socket PATH</c>).
/// </summary>
public static class StatsClient
{
    public static BackendStats Fetch(string socketPath, int timeoutMs = 2000)
    {
        int fd = UnixSocket.TryConnect(socketPath);
        if (fd < 0)
        {
            throw new IOException($"cannot connect to stats socket {socketPath}");
        }
        try
        {
            using var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: false), FileAccess.Read, 1);
            var task = new StreamReader(stream).ReadToEndAsync();
            if (!task.Wait(timeoutMs))
            {
                throw new TimeoutException($"stats socket {socketPath} did not answer within {timeoutMs} ms");
            }
            return BackendStats.FromJson(task.Result);
        }
        finally
        {
            Interop.LibC.CloseQuietly(fd);
        }
    }

    public static BackendStats? TryFetch(string? socketPath)
    {
        if (string.IsNullOrEmpty(socketPath))
        {
            return null;
        }
        try
        {
            return Fetch(socketPath);
        }
        catch (Exception e) when (e is IOException or TimeoutException or JsonException or AggregateException)
        {
            return null;
        }
    }
}

using System.Text.Json;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Polling;

namespace PerfLab.LoadGen;

/// <summary>One run's figures over the measured window (warm-up and drain excluded).</summary>
public sealed record LoadGenResult
{
    public string Backend { get; init; } = "";
    public string Poll { get; init; } = "";
    public string Features { get; init; } = "";
    public string ProtocolFeatures { get; init; } = "";
    public int FrameSize { get; init; }
    public int QueueSize { get; init; }
    public int Burst { get; init; }
    public int Queues { get; init; }
    public double OfferedPps { get; init; }
    public double DurationS { get; init; }

    public long Sent { get; init; }
    public long Received { get; init; }
    public long Lost { get; init; }
    public long SeqErrors { get; init; }
    public long Unswapped { get; init; }
    public long BadLength { get; init; }
    public long Corrupt { get; init; }
    public long VerifyErrors { get; init; }
    public long BadIds { get; init; }
    public long RingErrors { get; init; }

    /// <summary>Frames received per queue pair over the whole run.</summary>
    public long[] ReceivedPerPair { get; init; } = [];

    /// <summary>From opening the connection (connect, or listen for a back-end in client mode)
    /// to the first frame back, in ms: the start-up (or restart) cost as a guest sees it.</summary>
    public double ConnectToFirstFrameMs { get; init; } = -1;

    /// <summary>Each reconnect's time from reopening the connection to the first frame back, ms.</summary>
    public List<double> ReconnectMs { get; init; } = [];

    /// <summary>Memory-table changes made during the window (RemapIntervalMs).</summary>
    public int MemoryRemaps { get; init; }

    public long RarpReceived { get; init; }

    /// <summary>Dirty-log check (DirtyLog): pages marked, pages the back-end wrote, and pages in
    /// one set but not the other; -1 when not checked.</summary>
    public long DirtyPagesLogged { get; init; } = -1;
    public long DirtyPagesExpected { get; init; } = -1;
    public long DirtyLogMismatches { get; init; } = -1;

    public double Mpps { get; init; }
    public double Gbps { get; init; }

    public LatencySummary LatencyNs { get; init; } = new();

    /// <summary>(percentile, ns) pairs of the latency distribution, for spectrum plots.</summary>
    public List<double[]> LatencyPercentiles { get; init; } = [];

    public long Kicks { get; init; }
    public double KicksPerPacket { get; init; }
    public long CallsReceived { get; init; }
    public double CallsPerPacket { get; init; }
    public long Sleeps { get; init; }

    /// <summary>The guest strategy's decisions over the window (sleeps by length, budget at the
    /// end, probes); null for busy polling.</summary>
    public PollDecisions? GuestPoll { get; init; }
    public long TxFullStalls { get; init; }

    public long LoadgenCpuNs { get; init; }
    public long LoadgenThreadCpuNs { get; init; }
    public double LoadgenCpuPct { get; init; }
    public double LoadgenCpuNsPerPacket { get; init; }

    /// <summary>-1 when unknown (no stats socket and no pid).</summary>
    public long BackendCpuNs { get; init; } = -1;
    public double BackendCpuPct { get; init; } = -1;
    public double BackendCpuNsPerPacket { get; init; } = -1;
    public double BackendBusyNsPerPacket { get; init; } = -1;
    public long BackendPackets { get; init; } = -1;
    public long BackendCalls { get; init; } = -1;
    public long BackendKicksReceived { get; init; } = -1;
    public long BackendWakeups { get; init; } = -1;
    public long BackendEmptyPolls { get; init; } = -1;

    /// <summary>The back-end workers' strategy decisions over the window, added up (the largest
    /// budget at the end); null without a stats socket or for busy polling.</summary>
    public PollDecisions? BackendPoll { get; init; }
    public int BackendGen0 { get; init; } = -1;
    public int BackendGen1 { get; init; } = -1;
    public int BackendGen2 { get; init; } = -1;
    public long BackendAllocatedBytes { get; init; } = -1;
    /// <summary>Allocated by the back-end's data-plane threads over the window.</summary>
    public long BackendDataPlaneAllocatedBytes { get; init; } = -1;

    public int Gen0 { get; init; }
    public int Gen1 { get; init; }
    public int Gen2 { get; init; }
    public long AllocatedBytes { get; init; }

    /// <summary>Allocated by the traffic thread over the window (process-wide figures are
    /// <see cref="AllocatedBytes"/>); -1 when not measured.</summary>
    public long TrafficThreadAllocatedBytes { get; init; } = -1;

    public string Clock { get; init; } = "";

    public string ToJson(bool indented = true) => JsonSerializer.Serialize(this, indented ? Json.Indented : Json.Compact);

    public static LoadGenResult FromJson(string s) => JsonSerializer.Deserialize<LoadGenResult>(s, Json.Compact)!;
}

public sealed record LatencySummary
{
    public long Count { get; init; }
    public double Mean { get; init; }
    public long P50 { get; init; }
    public long P90 { get; init; }
    public long P99 { get; init; }
    public long P999 { get; init; }
    public long Max { get; init; }
}

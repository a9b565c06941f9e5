namespace PerfLab.Reports.Model;

/// <summary>
/// One end-to-end configuration of a run: the parameters, and every figure over the measured
/// iterations only. Throughput comes from BenchmarkDotNet (ns per frame), latency from the
/// load generator's HdrHistogram merged over the measured iterations, and the spreads
/// (<c>Low</c>/<c>High</c>) are the smallest and largest per-iteration values. NaN: not known
/// (for instance the back-end's own counters when the peer has no stats socket).
/// </summary>
public sealed class ConfigResult
{
    /// <summary>Unique within a run; the key of the other CSV files.</summary>
    public string Id { get; set; } = "";

    /// <summary>The back-end implementation: <c>perflab</c> or <c>dpdk</c> (testpmd).</summary>
    public string Peer { get; set; } = PeerNames.PerfLab;
    public string BackendPoll { get; set; } = "";
    public string GuestPoll { get; set; } = "";
    public int FrameSize { get; set; }
    public int QueueSize { get; set; }
    public int Burst { get; set; }

    /// <summary>Ring layout: <c>split</c> or <c>packed</c> (VIRTIO_F_RING_PACKED).</summary>
    public string Ring { get; set; } = "split";

    /// <summary>Queue pairs carrying traffic.</summary>
    public int Pairs { get; set; } = 1;

    /// <summary>MRG_RXBUF negotiated.</summary>
    public bool Mergeable { get; set; }

    /// <summary>Offered load in % of the run's measured maximum; 100 means unthrottled.</summary>
    public int LoadPct { get; set; } = 100;

    /// <summary>The offered rate (0 when unthrottled).</summary>
    public double OfferedMpps { get; set; }

    /// <summary>Measured iterations behind every figure.</summary>
    public int Iterations { get; set; }

    // BenchmarkDotNet: nanoseconds per frame over the measured iterations.
    public double MeanNsPerFrame { get; set; }
    public double StdDevNsPerFrame { get; set; }
    public double MinNsPerFrame { get; set; }
    public double MaxNsPerFrame { get; set; }

    // Derived from the above (stored so that the CSV reads on its own).
    public double Mpps { get; set; }
    public double MppsLow { get; set; }
    public double MppsHigh { get; set; }
    public double Gbps { get; set; }

    // Round-trip latency in ns (HdrHistogram over the measured iterations).
    public long LatencySamples { get; set; }
    public double P50Ns { get; set; }
    public double P50LowNs { get; set; }
    public double P50HighNs { get; set; }
    public double P90Ns { get; set; }
    public double P99Ns { get; set; }
    public double P99LowNs { get; set; }
    public double P99HighNs { get; set; }
    public double P999Ns { get; set; }
    public double P999LowNs { get; set; }
    public double P999HighNs { get; set; }
    public double MaxLatencyNs { get; set; }

    // CPU over the measured iterations: % of one CPU, and CPU ns per frame.
    public double BackendCpuPct { get; set; } = double.NaN;
    public double BackendCpuPctLow { get; set; } = double.NaN;
    public double BackendCpuPctHigh { get; set; } = double.NaN;
    public double BackendCpuNsPerFrame { get; set; } = double.NaN;
    public double BackendCpuNsPerFrameLow { get; set; } = double.NaN;
    public double BackendCpuNsPerFrameHigh { get; set; } = double.NaN;
    public double LoadgenCpuPct { get; set; } = double.NaN;
    public double LoadgenCpuPctLow { get; set; } = double.NaN;
    public double LoadgenCpuPctHigh { get; set; } = double.NaN;
    public double LoadgenCpuNsPerFrame { get; set; } = double.NaN;
    public double LoadgenCpuNsPerFrameLow { get; set; } = double.NaN;
    public double LoadgenCpuNsPerFrameHigh { get; set; } = double.NaN;

    /// <summary>Kicks the guest sent, per frame.</summary>
    public double KicksPerFrame { get; set; } = double.NaN;

    /// <summary>Calls (interrupts) the guest received, per frame.</summary>
    public double CallsPerFrame { get; set; } = double.NaN;

    // MemoryDiagnoser (the load generator's process, where the benchmark runs).
    public double AllocatedBytesPerFrame { get; set; } = double.NaN;
    public double Gen0Per1kFrames { get; set; } = double.NaN;
    public double Gen1Per1kFrames { get; set; } = double.NaN;
    public double Gen2Per1kFrames { get; set; } = double.NaN;

    // The back-end's own counters over the measured iterations (-1: unknown).
    public long BackendGen0 { get; set; } = -1;
    public long BackendGen1 { get; set; } = -1;
    public long BackendGen2 { get; set; } = -1;
    public long BackendDataPlaneAllocatedBytes { get; set; } = -1;

    /// <summary>Frames lost, out of sequence or damaged in the measured iterations (should be 0).</summary>
    public long Errors { get; set; }

    /// <summary>Fills <see cref="Mpps"/>, its spread and <see cref="Gbps"/> from the ns per frame.</summary>
    public ConfigResult WithDerivedThroughput()
    {
        Mpps = MeanNsPerFrame > 0 ? 1000 / MeanNsPerFrame : double.NaN;
        MppsLow = MaxNsPerFrame > 0 ? 1000 / MaxNsPerFrame : double.NaN;
        MppsHigh = MinNsPerFrame > 0 ? 1000 / MinNsPerFrame : double.NaN;
        Gbps = Mpps * FrameSize * 8 / 1000;
        return this;
    }

    /// <summary>"busy / busy": the back-end's strategy and the guest's (DPDK: "DPDK / busy").</summary>
    public string Strategy => (Peer == PeerNames.PerfLab ? $"{BackendPoll} / {GuestPoll}" : $"{PeerNames.Display(Peer)} / {GuestPoll}")
        + (Variant.Length > 0 ? $" ({Variant})" : "");

    /// <summary>What differs from the default data path (split ring, one pair, no MRG_RXBUF),
    /// e.g. "packed", "2 pairs", "mergeable"; empty for the default.</summary>
    public string Variant => string.Join(", ", new[]
    {
        Ring is "" or "split" ? "" : Ring,
        Pairs > 1 ? $"{Pairs} pairs" : "",
        Mergeable ? "mergeable" : "",
    }.Where(x => x.Length > 0));

    public bool Unthrottled => LoadPct >= 100;

    /// <summary>The x of load plots: the offered rate, or the measured one when unthrottled.</summary>
    public double LoadAxisMpps => Unthrottled || OfferedMpps <= 0 ? Mpps : OfferedMpps;
}

/// <summary>The back-end implementations a run can compare.</summary>
public static class PeerNames
{
    public const string PerfLab = "perflab";
    public const string Dpdk = "dpdk";

    public static string Display(string peer) => peer switch
    {
        PerfLab => "PerfLab",
        Dpdk => "DPDK",
        _ => peer,
    };
}

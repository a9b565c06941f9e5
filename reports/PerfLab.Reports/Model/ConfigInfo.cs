namespace PerfLab.Reports.Model;

/// <summary>
/// One configuration of a run, as the report and the store see it: what ran (peer,
/// strategies, data path) and which configuration it is compared with. The bench's catalog
/// (bench/Method/Configurations.cs) creates these; scripts describe theirs by id only.
/// </summary>
public sealed class ConfigInfo
{
    /// <summary>Unique within a run, stable across runs (compare matches on it): "busy-64".</summary>
    public string Id { get; set; } = "";

    /// <summary>What a reader sees: "busy / busy, 64 B".</summary>
    public string Label { get; set; } = "";

    /// <summary>The back-end implementation: <c>perflab</c>, <c>dpdk</c> (testpmd), or what a script names.</summary>
    public string Peer { get; set; } = PeerNames.PerfLab;
    public string BackendPoll { get; set; } = "";
    public string GuestPoll { get; set; } = "";
    public int FrameSize { get; set; }
    public int QueueSize { get; set; }
    public int Burst { get; set; }
    public string Ring { get; set; } = "split";
    public int Pairs { get; set; } = 1;
    public bool Mergeable { get; set; }
    public int Devices { get; set; } = 1;

    /// <summary>Extra back-end arguments, as given.</summary>
    public string BackendArgs { get; set; } = "";

    /// <summary>The configuration whose per-round values this one's ratios divide by (busy
    /// polling on the same data path); empty for a reference itself.</summary>
    public string Reference { get; set; } = "";

    /// <summary>Frame bytes per frame, for Gb/s.</summary>
    public double Gbps(double mpps) => mpps * FrameSize * 8 / 1000;
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

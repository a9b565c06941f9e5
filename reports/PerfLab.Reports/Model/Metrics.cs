namespace PerfLab.Reports.Model;

/// <summary>Which way is better for a metric (compare's verdicts and the ratio columns).</summary>
public enum Better
{
    Higher,
    Lower,

    /// <summary>A count or a setting: shown, never judged.</summary>
    Neither,
}

/// <summary>One metric: its name in the CSV files and the store, what it means, its unit.</summary>
public sealed record MetricDef(string Name, string Title, string Unit, Better Better);

/// <summary>
/// The names of every per-round figure, shared by the bench (which measures them), the report
/// (which summarises them), the scripts (which record them) and compare/history (which judge
/// them). A figure measured at a load point is named QUANTITY@LOAD, LOAD being the point's
/// percentage of the configuration's own PDR in that round, 0 being one frame in flight
/// (the latency floor). REF_ before a quantity: the configuration's reference (busy polling)
/// measured at this configuration's offered rate, in the same round.
/// </summary>
public static class Metrics
{
    public const string NdrMpps = "ndr_mpps";
    public const string NdrLowerMpps = "ndr_lower_mpps";
    public const string NdrUpperMpps = "ndr_upper_mpps";
    public const string NdrTrials = "ndr_trials";
    public const string NdrRegular = "ndr_regular";
    public const string NdrGbps = "ndr_gbps";
    public const string PdrMpps = "pdr_mpps";
    public const string PdrLowerMpps = "pdr_lower_mpps";
    public const string PdrUpperMpps = "pdr_upper_mpps";
    public const string PdrTrials = "pdr_trials";
    public const string PdrRegular = "pdr_regular";
    public const string PdrGbps = "pdr_gbps";
    public const string SearchTrials = "search_trials";
    public const string SearchSeconds = "search_s";
    public const string MaxLoadMpps = "max_load_mpps";
    public const string WarmupMpps = "warmup_rx_mpps";

    // Quantities measured at each load point.
    public const string OfferedMpps = "offered_mpps";
    public const string RxMpps = "rx_mpps";
    public const string Loss = "loss";
    public const string P50Us = "p50_us";
    public const string P90Us = "p90_us";
    public const string P99Us = "p99_us";
    public const string P999Us = "p999_us";
    public const string MaxUs = "max_us";
    public const string BackendCpuPct = "be_cpu_pct";
    public const string BackendNsPerFrame = "be_ns_frame";
    public const string LoadgenCpuPct = "lg_cpu_pct";
    public const string LoadgenNsPerFrame = "lg_ns_frame";
    public const string KicksPerFrame = "kicks_frame";
    public const string CallsPerFrame = "calls_frame";

    /// <summary>Time the polling thread was runnable but held off its CPU, in % of the window.</summary>
    public const string LoadgenWaitPct = "lg_wait_pct";
    public const string BackendWaitPct = "be_wait_pct";

    /// <summary>The strategies' decisions (docs/polling.md), per frame received or as the
    /// strategy stood at the end of the window; absent for a side that keeps none (busy).</summary>
    public const string BackendSleepsPerFrame = "be_sleeps_frame";
    public const string BackendWakeupsPerFrame = "be_wakeups_frame";
    public const string BackendSleepP50Us = "be_sleep_p50_us";
    public const string BackendSleepP99Us = "be_sleep_p99_us";
    public const string BackendBudgetUs = "be_budget_us";
    public const string BackendNotifyWindowUs = "be_notify_window_us";
    public const string BackendNapsPerFrame = "be_naps_frame";
    public const string BackendKickTimeoutsPerFrame = "be_kick_timeouts_frame";
    public const string BackendKickBatch = "be_kick_batch";
    public const string GuestSleepsPerFrame = "guest_sleeps_frame";
    public const string GuestSleepP50Us = "guest_sleep_p50_us";
    public const string GuestBudgetUs = "guest_budget_us";
    public const string GuestNotifyWindowUs = "guest_notify_window_us";

    /// <summary>The scripts' fixed-load figures (unthrottled or a given rate).</summary>
    public const string Mpps = "mpps";

    /// <summary>The lowest and highest cache-line round trip of the short probes taken just
    /// before and just after each of the configuration's visits in the round: the host moved
    /// the vCPUs during the visit when one is of another class than the run's rounds.</summary>
    public const string VisitC2cMinNs = "visit_c2c_min_ns";
    public const string VisitC2cMaxNs = "visit_c2c_max_ns";

    public const string RefPrefix = "ref_";

    /// <summary>The load points of every configuration: one frame in flight, then 10, 50 and
    /// 90 % of its own PDR (FD.io CSIT's latency points).</summary>
    public static readonly IReadOnlyList<int> LoadPoints = [0, 10, 50, 90];

    /// <summary>The points where the reference is also measured at this configuration's rate.</summary>
    public static readonly IReadOnlyList<int> SameRatePoints = [10, 50, 90];

    public static string At(string quantity, int load) => $"{quantity}@{load}";

    public static string Ref(string metric) => RefPrefix + metric;

    public static string LoadText(int load) => load == 0 ? "one frame in flight" : $"{load} % of PDR";

    /// <summary>(quantity, load) of "p99_us@50"; load -1 for a metric without a load point.</summary>
    public static (string Quantity, int Load) Split(string metric)
    {
        int at = metric.IndexOf('@', StringComparison.Ordinal);
        return at < 0 || !int.TryParse(metric.AsSpan(at + 1), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int load)
            ? (metric, -1)
            : (metric[..at], load);
    }

    private static readonly Dictionary<string, MetricDef> Known = new MetricDef[]
    {
        new(NdrMpps, "NDR (loss 0)", "Mpps", Better.Higher),
        new(NdrLowerMpps, "NDR relevant lower bound", "Mpps", Better.Higher),
        new(NdrUpperMpps, "NDR relevant upper bound", "Mpps", Better.Higher),
        new(NdrTrials, "NDR search trials", "", Better.Neither),
        new(NdrRegular, "NDR regular result (1) or irregular (0)", "", Better.Neither),
        new(NdrGbps, "NDR", "Gb/s", Better.Higher),
        new(PdrMpps, "PDR (loss ≤ goal)", "Mpps", Better.Higher),
        new(PdrLowerMpps, "PDR relevant lower bound", "Mpps", Better.Higher),
        new(PdrUpperMpps, "PDR relevant upper bound", "Mpps", Better.Higher),
        new(PdrTrials, "PDR search trials", "", Better.Neither),
        new(PdrRegular, "PDR regular result (1) or irregular (0)", "", Better.Neither),
        new(PdrGbps, "PDR", "Gb/s", Better.Higher),
        new(SearchTrials, "search trials (both goals)", "", Better.Neither),
        new(SearchSeconds, "search time", "s", Better.Neither),
        new(MaxLoadMpps, "search max load", "Mpps", Better.Neither),
        new(WarmupMpps, "warm-up forwarding rate", "Mpps", Better.Neither),
        new(OfferedMpps, "offered", "Mpps", Better.Neither),
        new(RxMpps, "received", "Mpps", Better.Higher),
        new(Loss, "loss ratio", "", Better.Lower),
        new(P50Us, "p50 latency", "µs", Better.Lower),
        new(P90Us, "p90 latency", "µs", Better.Lower),
        new(P99Us, "p99 latency", "µs", Better.Lower),
        new(P999Us, "p99.9 latency", "µs", Better.Lower),
        new(MaxUs, "max latency", "µs", Better.Lower),
        new(BackendCpuPct, "back-end CPU", "% of a core", Better.Lower),
        new(BackendNsPerFrame, "back-end CPU per frame", "ns", Better.Lower),
        new(LoadgenCpuPct, "load-generator CPU", "% of a core", Better.Lower),
        new(LoadgenNsPerFrame, "load-generator CPU per frame", "ns", Better.Lower),
        new(KicksPerFrame, "kicks per frame", "", Better.Lower),
        new(CallsPerFrame, "calls per frame", "", Better.Lower),
        new(LoadgenWaitPct, "load-generator thread preempted", "% of the window", Better.Neither),
        new(BackendWaitPct, "back-end polling threads preempted", "% of the window", Better.Neither),
        new(BackendSleepsPerFrame, "back-end sleeps per frame", "", Better.Lower),
        new(BackendWakeupsPerFrame, "back-end wake-ups per frame", "", Better.Lower),
        new(BackendSleepP50Us, "back-end sleep length, p50 (arm to running again)", "µs", Better.Neither),
        new(BackendSleepP99Us, "back-end sleep length, p99 (arm to running again)", "µs", Better.Neither),
        new(BackendBudgetUs, "back-end poll budget at the window's end", "µs", Better.Neither),
        new(BackendNotifyWindowUs, "back-end notify-poll window at the window's end", "µs", Better.Neither),
        new(BackendNapsPerFrame, "back-end naps per frame", "", Better.Neither),
        new(BackendKickTimeoutsPerFrame, "back-end kick-batch timeouts per frame", "", Better.Neither),
        new(BackendKickBatch, "back-end buffers per kick at the window's end (kick batch)", "", Better.Neither),
        new(GuestSleepsPerFrame, "guest sleeps per frame", "", Better.Lower),
        new(GuestSleepP50Us, "guest sleep length, p50", "µs", Better.Neither),
        new(GuestBudgetUs, "guest poll budget at the window's end", "µs", Better.Neither),
        new(GuestNotifyWindowUs, "guest notify-poll window at the window's end", "µs", Better.Neither),
        new(Mpps, "throughput", "Mpps", Better.Higher),
        new(VisitC2cMinNs, "lowest c2c next to the visits", "ns", Better.Neither),
        new(VisitC2cMaxNs, "highest c2c next to the visits", "ns", Better.Neither),
    }.ToDictionary(d => d.Name);

    /// <summary>The definition of any metric name, QUANTITY@LOAD and REF_ forms included;
    /// an unknown name is shown as itself, never judged.</summary>
    public static MetricDef Def(string metric)
    {
        bool isRef = metric.StartsWith(RefPrefix, StringComparison.Ordinal);
        var (q, load) = Split(isRef ? metric[RefPrefix.Length..] : metric);
        MetricDef d = Known.TryGetValue(q, out MetricDef? k) ? k : new MetricDef(q, q, "", Better.Neither);
        string title = d.Title + (load >= 0 ? $" at {LoadText(load)}" : "") + (isRef ? " (reference at this rate)" : "");
        return d with { Name = metric, Title = title };
    }
}

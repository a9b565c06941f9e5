namespace PerfLab.Reports.Model;

/// <summary>
/// The choices the plots and the summary make over a run's configurations: which queue size,
/// burst and frame size headline the plots, which row is the baseline of another, the order of
/// strategies. Kept here, in one place, so that the charts and report.md agree.
/// </summary>
public static class Views
{
    private static readonly string[] PollOrder = ["busy", "hybrid", "backoff", "interrupt"];

    /// <summary>Strategies in display order: PerfLab's from busiest to laziest, then the peers.</summary>
    public static IEnumerable<ConfigResult> Ordered(IEnumerable<ConfigResult> rows) => rows
        .OrderBy(r => r.Peer == PeerNames.PerfLab ? 0 : 1)
        .ThenBy(r => Rank(r.BackendPoll))
        .ThenBy(r => Rank(r.GuestPoll))
        .ThenBy(r => r.Variant)
        .ThenBy(r => r.FrameSize)
        .ThenBy(r => r.QueueSize)
        .ThenBy(r => r.Burst)
        .ThenBy(r => r.LoadPct);

    private static int Rank(string poll)
    {
        int i = Array.IndexOf(PollOrder, poll.ToLowerInvariant());
        return i < 0 ? PollOrder.Length : i;
    }

    /// <summary>Distinct strategies ("busy / busy") in display order.</summary>
    public static List<string> Strategies(IEnumerable<ConfigResult> rows) => Ordered(rows).Select(r => r.Strategy).Distinct().ToList();

    /// <summary>The (queue size, burst) most configurations share: the one the plots show.
    /// Ties go to the smaller queue and the larger burst.</summary>
    public static (int Queue, int Burst) HeadlineRing(IReadOnlyList<ConfigResult> rows) => rows.Count == 0
        ? (0, 0)
        : rows.GroupBy(r => (r.QueueSize, r.Burst))
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key.QueueSize).ThenByDescending(g => g.Key.Burst)
            .First().Key;

    /// <summary>The frame size of the load sweep plots: the one with the most load points.</summary>
    public static int HeadlineFrameSize(IReadOnlyList<ConfigResult> rows) => rows.Count == 0
        ? 0
        : rows.GroupBy(r => r.FrameSize)
            .OrderByDescending(g => g.Select(r => r.LoadPct).Distinct().Count()).ThenByDescending(g => g.Count()).ThenBy(g => g.Key)
            .First().Key;

    /// <summary>Rows at the headline queue size and burst.</summary>
    public static List<ConfigResult> AtHeadlineRing(IReadOnlyList<ConfigResult> rows)
    {
        var (q, b) = HeadlineRing(rows);
        return rows.Where(r => r.QueueSize == q && r.Burst == b).ToList();
    }

    /// <summary>A throttled configuration kept up when it moved at least this share of the offered rate.</summary>
    public const double KeptUpShare = 0.95;

    public static bool KeptUp(ConfigResult r) => r.Unthrottled || (r.OfferedMpps > 0 && r.Mpps >= KeptUpShare * r.OfferedMpps);

    /// <summary>The load of the percentile-spectrum plot: the highest throttled load that every
    /// configuration kept up with (beyond it the spectrum shows a growing queue, not the data
    /// path), else the lowest throttled load; unthrottled when the run has no sweep.</summary>
    public static int SpectrumLoad(IReadOnlyList<ConfigResult> rows)
    {
        var byLoad = rows.Where(r => !r.Unthrottled).GroupBy(r => r.LoadPct).OrderBy(g => g.Key).ToList();
        if (byLoad.Count == 0)
        {
            return 100;
        }
        var kept = byLoad.Where(g => g.All(KeptUp)).ToList();
        return kept.Count > 0 ? kept[^1].Key : byLoad[0].Key;
    }

    /// <summary>True for a baseline configuration: DPDK when the run has it, else PerfLab
    /// busy-poll on both sides.</summary>
    public static bool IsBaseline(ConfigResult r, bool runHasDpdk) => runHasDpdk
        ? r.Peer == PeerNames.Dpdk
        : r.Peer == PeerNames.PerfLab && Eq(r.BackendPoll, "busy") && Eq(r.GuestPoll, "busy");

    public static bool HasDpdk(IEnumerable<ConfigResult> rows) => rows.Any(r => r.Peer == PeerNames.Dpdk);

    public static string BaselineName(IEnumerable<ConfigResult> rows) => HasDpdk(rows)
        ? "DPDK testpmd (vhost PMD, macswap) under the same load"
        : "PerfLab busy / busy (DPDK not installed)";

    /// <summary>The baseline row for <paramref name="r"/>: same frame size, queue, burst, load
    /// and variant (ring layout, pairs, mergeable); the same guest strategy if there is one, else the busy guest. Null if none.</summary>
    public static ConfigResult? BaselineOf(ConfigResult r, IReadOnlyList<ConfigResult> rows)
    {
        bool dpdk = HasDpdk(rows);
        var same = rows.Where(b => IsBaseline(b, dpdk) && b.FrameSize == r.FrameSize && b.QueueSize == r.QueueSize
            && b.Burst == r.Burst && b.LoadPct == r.LoadPct && b.Variant == r.Variant).ToList();
        return same.FirstOrDefault(b => Eq(b.GuestPoll, r.GuestPoll))
            ?? same.FirstOrDefault(b => Eq(b.GuestPoll, "busy"))
            ?? same.FirstOrDefault();
    }

    private static bool Eq(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
}

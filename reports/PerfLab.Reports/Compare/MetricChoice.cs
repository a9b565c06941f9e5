using PerfLab.Reports.Model;

namespace PerfLab.Reports.Compare;

/// <summary>
/// Which metrics compare and history judge, in the order of importance the verdict table
/// sorts by: capacity (NDR, PDR), then latency (p99, p50) at each load point, then back-end
/// CPU per frame; a script's fixed-load figures after them. A chosen name without a load point
/// ("p99_us") takes every load point of it ("p99_us@0", "p99_us@10"...).
/// </summary>
public static class MetricChoice
{
    public static readonly IReadOnlyList<string> Default = BuildDefault();

    private static List<string> BuildDefault()
    {
        var list = new List<string> { Metrics.NdrMpps, Metrics.PdrMpps };
        list.AddRange(Metrics.LoadPoints.Select(l => Metrics.At(Metrics.P99Us, l)));
        list.AddRange(Metrics.LoadPoints.Select(l => Metrics.At(Metrics.P50Us, l)));
        list.AddRange(Metrics.SameRatePoints.Select(l => Metrics.At(Metrics.BackendNsPerFrame, l)));
        list.AddRange([Metrics.Mpps, Metrics.P99Us, Metrics.P50Us, Metrics.BackendNsPerFrame]);
        return list;
    }

    /// <summary>The metrics to judge among <paramref name="available"/>: the default ones
    /// present, or those matching <paramref name="chosen"/>; ordered by importance, then as
    /// available lists them.</summary>
    public static List<string> Select(IReadOnlyCollection<string> available, IReadOnlyList<string>? chosen)
    {
        IEnumerable<string> picked = chosen is { Count: > 0 }
            ? available.Where(m => chosen.Any(c => Matches(m, c)))
            : available.Where(Default.Contains);
        return picked.Distinct().OrderBy(Importance).ToList();
    }

    /// <summary>The chosen names that match nothing available (a typo the user must hear about).</summary>
    public static List<string> Unmatched(IReadOnlyCollection<string> available, IReadOnlyList<string> chosen) =>
        chosen.Where(c => !available.Any(m => Matches(m, c))).ToList();

    public static bool Matches(string metric, string chosen) =>
        metric == chosen || (metric.StartsWith(chosen + "@", StringComparison.Ordinal) && !chosen.Contains('@', StringComparison.Ordinal));

    /// <summary>Lower is more important; metrics outside the default list come last.</summary>
    public static int Importance(string metric)
    {
        int i = Default.ToList().IndexOf(metric);
        return i >= 0 ? i : Default.Count;
    }
}

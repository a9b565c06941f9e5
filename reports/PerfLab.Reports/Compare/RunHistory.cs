using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;
using PerfLab.Reports.Store;

namespace PerfLab.Reports.Compare;

/// <summary>One stored run's figures for one configuration, and its verdict against the
/// previous run that has the configuration (per metric).</summary>
public sealed record HistoryPoint(StoredRun Run, IReadOnlyDictionary<string, MedianInterval> Values, IReadOnlyDictionary<string, RatioResult> VsPrevious, string? NotComparable)
{
    public IEnumerable<string> Regressions => VsPrevious.Where(kv => kv.Value.Verdict == Verdict.Slower).Select(kv => kv.Key);
}

/// <summary>One configuration across the stored runs, oldest first.</summary>
public sealed record ConfigHistory(string ConfigId, string Label, IReadOnlyList<string> Metrics, IReadOnlyList<HistoryPoint> Points);

/// <summary>
/// CSIT's trending, on the store: for each configuration, each run's medians with their
/// intervals, and each run judged against the previous one by the same test as compare, so a
/// regression is flagged where it entered. Runs of another host, CPU model or c2c class than
/// their predecessor are shown but not judged against it.
/// </summary>
public static class RunHistory
{
    /// <summary>The metrics history shows when none are chosen: capacity, the latency floor (one
    /// frame in flight), latency and CPU at
    /// half of each configuration's own PDR, and a script's fixed-load figures.</summary>
    public static readonly IReadOnlyList<string> DefaultMetrics =
        [Metrics.NdrMpps, Metrics.PdrMpps, Metrics.At(Metrics.P50Us, 0), Metrics.At(Metrics.P99Us, 50), Metrics.At(Metrics.BackendNsPerFrame, 50), Metrics.Mpps, Metrics.P99Us];

    public static List<ConfigHistory> Build(IReadOnlyList<(StoredRun Run, Report Report)> runs, string? configId, IReadOnlyList<string>? metrics, double threshold)
    {
        var ids = new List<string>();
        foreach (var (_, r) in runs)
        {
            ids.AddRange(r.Configs.Select(c => c.Id).Where(id => !ids.Contains(id) && (configId is null || id == configId)));
        }
        // Each run's rounds used, once per run rather than once per configuration and neighbour.
        var usedOf = new Dictionary<Report, HashSet<int>>(ReferenceEqualityComparer.Instance);
        foreach (var (_, r) in runs)
        {
            usedOf[r] = Summaries.UsedRounds(r);
        }
        var result = new List<ConfigHistory>();
        foreach (string id in ids)
        {
            var withIt = runs.Where(x => x.Report.Config(id) != null).ToList();
            var available = withIt.SelectMany(x => Summaries.MetricsOf(x.Report, id)).ToHashSet();
            List<string> shown = metrics is { Count: > 0 } ? MetricChoice.Select(available, metrics) : DefaultMetrics.Where(available.Contains).ToList();
            var points = new List<HistoryPoint>();
            (StoredRun Run, Report Report)? previous = null;
            foreach (var (run, report) in withIt)
            {
                var used = usedOf[report];
                var values = shown.ToDictionary(m => m, m => Summaries.Of(report, id, m, used));
                var vs = new Dictionary<string, RatioResult>();
                string? notComparable = null;
                if (previous is { } p)
                {
                    notComparable = Comparability.Refusal(Comparability.Checks(p.Report, report));
                    if (notComparable is null)
                    {
                        var usedP = usedOf[p.Report];
                        foreach (string m in shown)
                        {
                            vs[m] = RatioTest.Of(Summaries.ByRound(p.Report, id, m, usedP).Values, Summaries.ByRound(report, id, m, used).Values, Metrics.Def(m).Better, threshold);
                        }
                        IReadOnlyList<RatioResult> controlled = FalseDiscovery.Control(shown.Select(m => vs[m]).ToList());
                        for (int i = 0; i < shown.Count; i++)
                        {
                            vs[shown[i]] = controlled[i];
                        }
                    }
                }
                points.Add(new HistoryPoint(run, values, vs, notComparable));
                previous = (run, report);
            }
            string label = withIt.Select(x => x.Report.Config(id)!).Select(Views.LabelOf).Last();
            result.Add(new ConfigHistory(id, label, shown, points));
        }
        return result;
    }
}

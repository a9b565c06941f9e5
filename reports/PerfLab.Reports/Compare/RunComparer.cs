using PerfLab.Reports.Model;

namespace PerfLab.Reports.Compare;

/// <summary>The options of a comparison.</summary>
public sealed record CompareOptions(double Threshold = 0.05, IReadOnlyList<string>? Metrics = null, bool Force = false);

/// <summary>Thrown when two runs must not be compared (different host, CPU or c2c class), or a
/// chosen metric exists in neither; the message says why and what to do.</summary>
public sealed class CompareRefusedException(string message) : Exception(message);

/// <summary>
/// Compares two runs configuration by configuration (matched on their stable ids) and metric by
/// metric, on the per-round values of the rounds each run keeps (rounds flagged for another c2c
/// class are left out, as in the run's own report).
/// </summary>
public static class RunComparer
{
    public static Comparison Compare(Report b, Report c, string baseName, string candidateName, CompareOptions o)
    {
        if (!(o.Threshold > 0 && o.Threshold < 10))
        {
            throw new CompareRefusedException($"the threshold must be a positive ratio such as 5% or 0.05, not {o.Threshold}");
        }
        var cmp = new Comparison { BaseName = baseName, CandidateName = candidateName, Base = b, Candidate = c, Threshold = o.Threshold };
        cmp.Checks.AddRange(Comparability.Checks(b, c));
        if (Comparability.Refusal(cmp.Checks) is { } why)
        {
            if (!o.Force)
            {
                throw new CompareRefusedException($"refusing to compare {baseName} with {candidateName}: {why}. Figures from different machines or vCPU placements differ whatever the change; --force compares anyway");
            }
            cmp.Forced = why;
        }
        var baseIds = b.Configs.Select(x => x.Id).ToList();
        var candIds = c.Configs.Select(x => x.Id).ToHashSet();
        cmp.OnlyInBase.AddRange(baseIds.Where(id => !candIds.Contains(id)));
        cmp.OnlyInCandidate.AddRange(c.Configs.Select(x => x.Id).Where(id => !baseIds.Contains(id)));

        var usedB = Summaries.UsedRounds(b);
        var usedC = Summaries.UsedRounds(c);
        var allMetrics = new HashSet<string>(StringComparer.Ordinal);
        foreach (ConfigInfo bc in b.Configs.Where(x => candIds.Contains(x.Id)))
        {
            var available = Summaries.MetricsOf(b, bc.Id).Intersect(Summaries.MetricsOf(c, bc.Id)).ToList();
            allMetrics.UnionWith(available);
            foreach (string m in MetricChoice.Select(available, o.Metrics))
            {
                var vb = Summaries.ByRound(b, bc.Id, m, usedB).Values.ToList();
                var vc = Summaries.ByRound(c, bc.Id, m, usedC).Values.ToList();
                MetricDef def = Metrics.Def(m);
                cmp.Rows.Add(new ComparisonRow(bc.Id, Views.LabelOf(bc), m, def, RatioTest.Of(vb, vc, def.Better, o.Threshold)));
            }
        }
        if (o.Metrics is { Count: > 0 } chosen && MetricChoice.Unmatched(allMetrics, chosen) is { Count: > 0 } unknown)
        {
            throw new CompareRefusedException($"--metric {string.Join(", ", unknown)}: in neither run's common configurations; they have {string.Join(", ", allMetrics.Order())}");
        }
        var order = b.Configs.Select(x => x.Id).ToList();
        cmp.Rows.Sort((x, y) =>
        {
            int k = VerdictText.Rank(x.Verdict).CompareTo(VerdictText.Rank(y.Verdict));
            k = k != 0 ? k : MetricChoice.Importance(x.Metric).CompareTo(MetricChoice.Importance(y.Metric));
            k = k != 0 ? k : Math.Abs(Math.Log(y.Gain)).CompareTo(Math.Abs(Math.Log(x.Gain)));
            return k != 0 ? k : order.IndexOf(x.ConfigId).CompareTo(order.IndexOf(y.ConfigId));
        });
        return cmp;
    }
}

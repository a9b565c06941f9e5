using System.Text;
using PerfLab.Reports.Markdown;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Compare;

/// <summary>history's page: per configuration, a trend table (one row per run) and its plot,
/// each run judged against the previous one; the regressions listed first.</summary>
public static class HistoryMarkdown
{
    public const string FileName = "history.md";

    public static string Build(IReadOnlyList<ConfigHistory> histories, double threshold, string storeName, IReadOnlyDictionary<string, string>? charts = null)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# Results history ({Format.Cell(storeName)})");
        sb.AppendLine();
        var regressions = histories.SelectMany(h => h.Points.SelectMany(p => p.Regressions.Select(m => (h, p, m)))).ToList();
        sb.AppendLine(regressions.Count == 0
            ? $"**No regression** between consecutive runs at threshold {RatioTest.Pct(threshold)}."
            : $"**{regressions.Count} regression{(regressions.Count > 1 ? "s" : "")}** between consecutive runs at threshold {RatioTest.Pct(threshold)}:");
        foreach (var (h, p, m) in regressions)
        {
            RatioResult x = p.VsPrevious[m];
            sb.AppendLine($"- {Format.Cell(h.Label)}, {Format.Cell(Metrics.Def(m).Title)}: run {p.Run.Id} ({p.Run.CommitText}) {Format.Ratio(x.Ratio)} of the run before ({Format.Ratio(x.RatioLow)}–{Format.Ratio(x.RatioHigh)})");
        }
        sb.AppendLine();
        foreach (ConfigHistory h in histories)
        {
            sb.AppendLine($"## {Format.Cell(h.Label)} ({h.ConfigId})");
            sb.AppendLine();
            if (charts != null && charts.TryGetValue(h.ConfigId, out string? png))
            {
                sb.AppendLine($"![{Format.Cell(h.Label)} across runs]({png})");
                sb.AppendLine();
            }
            sb.Append("| Run | Date | Commit | Host | c2c |");
            foreach (string m in h.Metrics)
            {
                MetricDef d = Metrics.Def(m);
                sb.Append($" {Format.Cell(d.Title)}{(d.Unit.Length > 0 ? $" ({d.Unit})" : "")} |");
            }
            sb.AppendLine(" Against the previous run |");
            sb.AppendLine("|---|---|---|---|---|" + string.Concat(h.Metrics.Select(_ => "---|")) + "---|");
            foreach (HistoryPoint p in h.Points)
            {
                sb.Append($"| {p.Run.Id} | {Format.Cell(p.Run.RunDate)} | {p.Run.CommitText} | {Format.Cell(p.Run.Host)} | {p.Run.C2cClass} |");
                foreach (string m in h.Metrics)
                {
                    string cell = Format.Interval(p.Values[m]);
                    if (p.VsPrevious.TryGetValue(m, out RatioResult? x) && x.Verdict is Verdict.Slower or Verdict.Faster)
                    {
                        cell += $" **{VerdictText.Of(x.Verdict)} {Format.Ratio(x.Ratio)}**";
                    }
                    sb.Append($" {cell} |");
                }
                sb.AppendLine($" {Against(p)} |");
            }
            sb.AppendLine();
        }
        sb.AppendLine($"Each cell: the median over the run's rounds (95 % interval). Each run is judged against the previous run of the same configuration by compare's test "
            + $"(Mann-Whitney equivalence test at {RatioTest.Pct(threshold)}); runs of another host, CPU model or c2c class than the one before are not judged. See docs/compare.md.");
        return sb.ToString();
    }

    private static string Against(HistoryPoint p)
    {
        if (p.NotComparable is { } why)
        {
            return $"not judged: {Format.Cell(why)}";
        }
        if (p.VsPrevious.Count == 0)
        {
            return "first run";
        }
        var counts = p.VsPrevious.Values.GroupBy(x => x.Verdict).OrderBy(g => VerdictText.Rank(g.Key)).Select(g => $"{g.Count()} {VerdictText.Of(g.Key)}");
        return string.Join(", ", counts);
    }
}

using System.Text;
using PerfLab.Reports.Markdown;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Compare;

/// <summary>The page a reviewer pastes: the one-line summary, the verdict table (slower rows
/// first), what only one run has, the runs' facts side by side, and how the verdict is reached.</summary>
public static class CompareMarkdown
{
    public const string FileName = "compare.md";

    public static string Build(Comparison c, string? chartFile = null)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# {Format.Cell(c.CandidateName)} against {Format.Cell(c.BaseName)}");
        sb.AppendLine();
        string headline = c.Regressed ? "Regressed" : c.Rows.Any(r => r.Verdict != Verdict.NotJudged) ? "No regression" : "Nothing judged (see the reasons in the table)";
        sb.AppendLine($"**{headline}**: {c.Summary()}.");
        sb.AppendLine();
        if (c.Forced is { } forced)
        {
            sb.AppendLine($"> **Compared with --force although the runs differ: {Format.Cell(forced)}.** The ratios mix the change with the machine.");
            sb.AppendLine();
        }
        foreach (var check in c.Checks.Where(x => !x.Known))
        {
            sb.AppendLine($"> The {check.What} could not be checked (base: {check.Base ?? "not recorded"}, candidate: {check.Candidate ?? "not recorded"}).");
            sb.AppendLine();
        }
        sb.AppendLine("| Configuration | Metric | Base median (95 % CI) | Candidate median (95 % CI) | Ratio (cand ÷ base) | Ratio interval | p | Verdict |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (ComparisonRow r in c.Rows)
        {
            RatioResult x = r.Result;
            string unit = r.Def.Unit.Length > 0 ? $" {r.Def.Unit}" : "";
            string verdict = r.Verdict is Verdict.Slower or Verdict.Faster ? $"**{VerdictText.Of(r.Verdict)}**" : VerdictText.Of(r.Verdict);
            sb.AppendLine($"| {Format.Cell(r.Label)} | {Format.Cell(r.Def.Title)}{unit} | {Format.Interval(x.Base)} | {Format.Interval(x.Candidate)} | {Format.Ratio(x.Ratio)} "
                + $"| {Range(x)} | {P(x.PValue)} | {verdict}{(r.Verdict is Verdict.Noise or Verdict.NotJudged ? $" ({Format.Cell(x.Why)})" : "")} |");
        }
        if (c.Rows.Count == 0)
        {
            sb.AppendLine("| – | no configuration and metric in both runs | | | | | | |");
        }
        sb.AppendLine();
        if (c.OnlyInBase.Count > 0)
        {
            sb.AppendLine($"Only in the base ({Format.Cell(c.BaseName)}), not compared: {string.Join(", ", c.OnlyInBase)}.");
            sb.AppendLine();
        }
        if (c.OnlyInCandidate.Count > 0)
        {
            sb.AppendLine($"Only in the candidate ({Format.Cell(c.CandidateName)}), not compared: {string.Join(", ", c.OnlyInCandidate)}.");
            sb.AppendLine();
        }
        if (chartFile != null)
        {
            sb.AppendLine($"![Ratios of the candidate to the base with their intervals]({chartFile})");
            sb.AppendLine();
        }
        sb.AppendLine("| Run | Base | Candidate |");
        sb.AppendLine("|---|---|---|");
        foreach (string key in new[] { RunInfo.Date, RunInfo.GitCommit, RunInfo.Host, RunInfo.CpuModel, RunInfo.Profile, RunInfo.C2cRange, "Back-end strategy override" })
        {
            string? vb = c.Base.Run[key], vc = c.Candidate.Run[key];
            if (vb != null || vc != null)
            {
                sb.AppendLine($"| {Format.Cell(key)} | {Format.Cell(vb ?? Format.Unknown)} | {Format.Cell(vc ?? Format.Unknown)} |");
            }
        }
        sb.AppendLine($"| c2c class (most rounds) | {Summaries.C2cClassOf(c.Base)} | {Summaries.C2cClassOf(c.Candidate)} |");
        sb.AppendLine($"| Rounds used (of all) | {Summaries.UsedRounds(c.Base).Count} of {c.Base.Rounds.Count} | {Summaries.UsedRounds(c.Candidate).Count} of {c.Candidate.Rounds.Count} |");
        sb.AppendLine();
        sb.AppendLine($"How: per configuration and metric, the medians over each run's rounds (rounds flagged for another c2c class left out) and the ratio of the medians. "
            + $"The ratio interval is the distribution-free interval of the shift between the two runs' rounds (Moses, from the Mann-Whitney statistic, on logarithms; "
            + $"{(1 - 2 * RatioTest.Alpha) * 100:0} %). p is the two-sided exact Mann-Whitney p-value. The verdict is ResultsComparer's equivalence test at threshold {RatioTest.Pct(c.Threshold)}: "
            + $"**slower** or **faster** when a one-sided Mann-Whitney test shows a difference beyond the threshold (α = {RatioTest.Alpha}), **same** when both one-sided tests show it within the threshold, "
            + "**noise** otherwise (too few or too scattered rounds to tell). Slower means worse for the metric: less throughput, more latency or CPU. See docs/compare.md.");
        return sb.ToString();
    }

    private static string Range(RatioResult x) =>
        double.IsFinite(x.RatioLow) ? $"{Format.Ratio(x.RatioLow)}–{Format.Ratio(x.RatioHigh)}" : Format.Unknown;

    private static string P(double p) => double.IsFinite(p) ? p.ToString(p < 0.001 ? "0.0e0" : "0.000", System.Globalization.CultureInfo.InvariantCulture) : Format.Unknown;
}

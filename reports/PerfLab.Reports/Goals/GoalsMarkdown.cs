using System.Globalization;
using System.Text;
using PerfLab.Reports.Markdown;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Goals;

/// <summary>The goals table: per goal the median of its per-round values, their range, the
/// limit, how many rounds met it and the verdict; then each round's c2c.</summary>
public static class GoalsMarkdown
{
    public static string Build(Report r, IReadOnlyList<GoalResult> results)
    {
        var md = new StringBuilder();
        Table(md, results);
        md.AppendLine();
        md.AppendLine("c2c per round: " + string.Join(", ", r.Rounds.Select(x => $"{x.Round}: {Format.Num(x.C2cNs, 0)} ns{(x.Flagged ? " (other c2c class, left out)" : "")}")));
        md.AppendLine(Verdict(results));
        return md.ToString();
    }

    /// <summary>"N goals, all met (median of the rounds)." or "N goals, K not met."</summary>
    public static string Verdict(IReadOnlyList<GoalResult> results)
    {
        int failed = results.Count(g => g.Verdict != GoalVerdict.Pass);
        return failed == 0 ? $"{results.Count} goals, all met (median of the rounds)." : $"{results.Count} goals, {failed} not met.";
    }

    /// <summary>The table alone, one row per goal.</summary>
    public static void Table(StringBuilder md, IReadOnlyList<GoalResult> results)
    {
        md.AppendLine("| goal | measured | median | range | limit | rounds met | verdict |");
        md.AppendLine("|---|---|---:|---|---|---:|---|");
        foreach (GoalResult g in results)
        {
            string gate = g.Goal.Gate.Length == 0 ? ""
                : g.Goal.Gate == g.Goal.Config ? ", in rounds where its reference at the same offered rate met the limit too"
                : $", in rounds where {g.Goal.Gate} met the limit too";
            string what = g.Goal.Reference.Length == 0 ? $"{g.Goal.Metric} of {g.Goal.Config}{gate}"
                : g.Goal.Reference == g.Goal.Config ? $"{g.Goal.Metric}: {g.Goal.Config} ÷ its reference at the same offered rate"
                : $"{g.Goal.Metric}: {g.Goal.Config} ÷ {g.Goal.Reference}";
            string verdict = g.Verdict switch { GoalVerdict.Pass => "pass", GoalVerdict.Fail => "**FAIL**", _ when g.GatedOut > 0 => "not measured: the gate fell short in every round", _ => "not measured" };
            md.AppendLine($"| {Format.Cell(g.Goal.Label)} | {Format.Cell(what)} | {Format.Num(g.Median)} | {Format.Num(g.Min)}–{Format.Num(g.Max)} | {(g.Goal.AtLeast ? "≥" : "≤")} {g.Goal.Limit.ToString(CultureInfo.InvariantCulture)} | {g.RoundsMet}/{g.Rounds}{(g.GatedOut > 0 ? $" ({g.GatedOut} left out)" : "")} | {verdict} |");
        }
    }
}

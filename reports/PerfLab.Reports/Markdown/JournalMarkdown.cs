using System.Text;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Reports.Markdown;

/// <summary>
/// The scripts' tables, from the same statistics as the bench's report: each round's headline
/// figure per configuration beside its c2c, then per metric the median with its interval, and
/// the median of the per-round ratios to each configuration's reference with its interval.
/// </summary>
public static class JournalMarkdown
{
    /// <param name="pairs">every (configuration, reference) ratio to show, in order: a
    /// configuration may have several; default, each configuration's own reference.</param>
    public static string Build(Report r, IReadOnlyList<string> metrics, string headline, IReadOnlyList<(string Config, string Reference)>? pairs = null)
    {
        var md = new StringBuilder();
        var used = Summaries.UsedRounds(r);
        md.AppendLine($"| round | c2c ns | {string.Join(" | ", r.Configs.Select(c => Format.Cell(c.Id)))} |");
        md.AppendLine("|---|---:|" + string.Concat(r.Configs.Select(_ => "---:|")));
        foreach (RoundInfo x in r.Rounds)
        {
            var cells = r.Configs.Select(c => Format.Num(r.Samples.FirstOrDefault(s => s.Round == x.Round && s.ConfigId == c.Id)?.Get(headline) ?? double.NaN, 3));
            md.AppendLine($"| {x.Round}{(x.Flagged ? " (flagged: other c2c class, left out)" : "")} | {Format.Num(x.C2cNs, 0)} | {string.Join(" | ", cells)} |");
        }
        md.AppendLine();
        md.AppendLine($"{headline} per round, then medians over {used.Count} rounds with their interval ({MedianInterval.Describe(used.Count)}):");
        md.AppendLine();
        md.AppendLine($"| configuration | {string.Join(" | ", metrics.Select(Format.Cell))} |");
        md.AppendLine("|---|" + string.Concat(metrics.Select(_ => "---|")));
        foreach (ConfigInfo c in r.Configs)
        {
            md.AppendLine($"| {Format.Cell(c.Id)} | {string.Join(" | ", metrics.Select(m => Format.Interval(Summaries.Of(r, c.Id, m, used))))} |");
        }
        var withRef = pairs ?? r.Configs.Where(c => c.Reference.Length > 0).Select(c => (c.Id, c.Reference)).ToList();
        if (withRef.Count > 0)
        {
            md.AppendLine();
            md.AppendLine("Median of the per-round ratios to the reference (both measured in the same round), with its interval; **bold** where it excludes 1:");
            md.AppendLine();
            md.AppendLine($"| configuration ÷ reference | {string.Join(" | ", metrics.Select(Format.Cell))} |");
            md.AppendLine("|---|" + string.Concat(metrics.Select(_ => "---|")));
            foreach (var (id, reference) in withRef)
            {
                md.AppendLine($"| {Format.Cell(id)} ÷ {Format.Cell(reference)} | {string.Join(" | ", metrics.Select(m => Format.RatioCell(Summaries.VsReference(r, id, reference, m, used))))} |");
            }
        }
        return md.ToString();
    }
}

using PerfLab.Reports.Charts;
using PerfLab.Reports.Statistics;

namespace PerfLab.Reports.Compare;

/// <summary>The ratios of compare (candidate ÷ base) with their intervals, on the report's
/// ratio chart, coloured by verdict; the candidate's provenance in the footer.</summary>
public static class CompareChart
{
    /// <summary>Rows past this are left to the table: the chart keeps the first, most important ones.</summary>
    public const int MaxRows = 24;

    public static RenderedChart Render(Comparison c, string dir)
    {
        var all = c.Rows.Where(r => double.IsFinite(r.Result.Ratio) && double.IsFinite(r.Result.RatioLow) && r.Result.Ratio > 0)
            .Select(r => new RatioChart.Row($"{r.Label}: {r.Def.Title}",
                new MedianInterval(r.Result.Ratio, r.Result.RatioLow, r.Result.RatioHigh, r.Result.Coverage, Math.Min(r.Result.Base.N, r.Result.Candidate.N)),
                ColorOf(r.Verdict)))
            .ToList();
        var rows = all.Take(MaxRows).ToList();
        string more = all.Count > MaxRows ? $" The first {MaxRows} of {all.Count} rows, in the table's order (regressions first)." : "";
        return RatioChart.Render(c.Candidate, dir, rows, $"{c.CandidateName} ÷ {c.BaseName}",
            $"Ratio of the medians (candidate ÷ base) with the interval of the shift; red slower, green faster, grey same, orange noise (threshold {RatioTest.Pct(c.Threshold)}).{more}",
            CompareFiles.ChartStem);
    }

    private static ScottPlot.Color ColorOf(Verdict v) => v switch
    {
        Verdict.Slower => ScottPlot.Colors.Red,
        Verdict.Faster => ScottPlot.Colors.Green,
        Verdict.Noise => ScottPlot.Colors.Orange,
        _ => ScottPlot.Colors.Gray,
    };
}

using ScottPlot;
using ScottPlot.TickGenerators;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Reports.Charts;

/// <summary>
/// Ratios with their intervals, one row per (configuration, metric), on a log axis with a
/// line at 1: the per-round ratios of a report to each configuration's reference, or the
/// ratios of compare (candidate ÷ base). An interval crossing the line is no significant
/// difference.
/// </summary>
public static class RatioChart
{
    public const string Stem = "ratios";

    /// <summary>One row: its label, the ratio's median and interval, and its series colour.</summary>
    public sealed record Row(string Label, MedianInterval Ratio, Color Color);

    /// <summary>The rows of a report: NDR, PDR, p99 and back-end CPU per frame at 50 % of
    /// each one's PDR, and p99 at the reference's side at the same offered rate.</summary>
    public static List<Row> RowsOf(Report report)
    {
        var used = Summaries.UsedRounds(report);
        var rows = new List<Row>();
        string p99 = Metrics.At(Metrics.P99Us, 50);
        string cpu = Metrics.At(Metrics.BackendNsPerFrame, 50);
        foreach (ConfigInfo c in report.Configs.Where(c => c.Reference.Length > 0))
        {
            Color color = ChartKit.ColorOf(report, c.Id);
            foreach (var (metric, text) in new[] { (Metrics.NdrMpps, "NDR"), (Metrics.PdrMpps, "PDR"), (p99, "p99 at 50 % own PDR"), (cpu, "CPU/frame at 50 % own PDR") })
            {
                if (Summaries.VsReference(report, c, metric, used) is { Ratio.HasInterval: true } p)
                {
                    rows.Add(new Row($"{Views.LabelOf(c)}: {text}", p.Ratio, color));
                }
            }
            if (Summaries.VsReferenceSameRate(report, c, p99, used) is { Ratio.HasInterval: true } s)
            {
                rows.Add(new Row($"{Views.LabelOf(c)}: p99 at the same offered rate", s.Ratio, color));
            }
        }
        return rows;
    }

    public static RenderedChart Render(Report report, string dir) =>
        Render(report, dir, RowsOf(report), "Each configuration against its reference (busy polling), per-round ratios",
            "Median of the per-round ratios (this configuration ÷ its reference, both measured in the same round) with its "
            + "95 % interval. Right of the line: larger (better for throughput, worse for latency and CPU). An interval that "
            + "crosses the line is no significant difference.");

    public static RenderedChart Render(Report report, string dir, IReadOnlyList<Row> rows, string title, string caption, string stem = Stem)
    {
        using var plot = ChartKit.NewPlot(title, "Ratio (log scale; 1 = equal)", "");
        if (rows.Count == 0)
        {
            ChartKit.NoData(plot, "no ratio with an interval");
            return ChartKit.Save(plot, report, dir, stem, title, caption, hasData: false);
        }
        var ticks = new NumericManual();
        for (int i = 0; i < rows.Count; i++)
        {
            Row r = rows[i];
            double y = rows.Count - 1 - i;
            double x = Math.Log10(r.Ratio.Median);
            var m = plot.Add.Marker(x, y, MarkerShape.FilledCircle, 9, r.Color);
            var eb = plot.Add.ErrorBar([x], [y], [0]);
            eb.YErrorNegative = [0];
            eb.XErrorPositive = [Math.Max(0, Math.Log10(r.Ratio.High) - x)];
            eb.XErrorNegative = [Math.Max(0, x - Math.Log10(r.Ratio.Low))];
            eb.Color = r.Color;
            eb.LineWidth = 2;
            ticks.AddMajor(y, r.Label);
        }
        plot.Axes.Left.TickGenerator = ticks;
        var one = plot.Add.VerticalLine(0, 1.5f, Colors.Black);
        one.LinePattern = LinePattern.Dashed;
        plot.Axes.Bottom.TickGenerator = new NumericAutomatic
        {
            LabelFormatter = v => "×" + Math.Pow(10, v).ToString(v < 0 ? "0.####" : "0.##", System.Globalization.CultureInfo.InvariantCulture),
        };
        plot.Axes.AutoScale();
        var lim = plot.Axes.GetLimits();
        double span = Math.Max(Math.Abs(lim.Left), Math.Abs(lim.Right));
        plot.Axes.SetLimits(-span * 1.1 - 0.01, span * 1.1 + 0.01, -0.7, rows.Count - 0.3);
        return ChartKit.Save(plot, report, dir, stem, title, caption, hasData: true);
    }
}

using ScottPlot;
using ScottPlot.TickGenerators;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Charts;

/// <summary>Throughput per strategy and frame size at the highest offered load: grouped bars
/// (mean Mpps) with whiskers from the slowest to the fastest measured iteration.</summary>
public static class ThroughputChart
{
    public const string Stem = "throughput";

    public static RenderedChart Render(Report report, string dir)
    {
        var ring = Views.HeadlineRing(report.Configs);
        var rows = Views.AtHeadlineRing(report.Configs).Where(r => r.Unthrottled && r.Mpps > 0).ToList();
        string title = $"Throughput at maximum load (queue {ring.Queue}, burst {ring.Burst})";
        using var plot = ChartKit.NewPlot(title, "Frame size", "Throughput (Mpps; whiskers: min–max over iterations)");
        string caption = "Bars: mean frames per second over the measured iterations (BenchmarkDotNet); "
            + "whiskers: the slowest and the fastest iteration. Series: back-end strategy / guest strategy.";
        if (rows.Count == 0)
        {
            ChartKit.NoData(plot, "no unthrottled configuration");
            return ChartKit.Save(plot, dir, Stem, title, caption, hasData: false);
        }
        var sizes = rows.Select(r => r.FrameSize).Distinct().Order().ToList();
        var strategies = Views.Strategies(rows);
        int n = strategies.Count;
        double top = 0;
        for (int s = 0; s < n; s++)
        {
            var bars = new List<Bar>();
            var xs = new List<double>();
            var ys = new List<double>();
            var up = new List<double>();
            var down = new List<double>();
            Color color = ChartKit.ColorOf(report, strategies[s]);
            for (int g = 0; g < sizes.Count; g++)
            {
                ConfigResult? r = rows.FirstOrDefault(r => r.Strategy == strategies[s] && r.FrameSize == sizes[g]);
                if (r is null)
                {
                    continue;
                }
                double x = g * (n + 1) + s;
                bars.Add(new Bar { Position = x, Value = r.Mpps, FillColor = color, LineWidth = 0 });
                xs.Add(x);
                ys.Add(r.Mpps);
                up.Add(Math.Max(0, (double.IsNaN(r.MppsHigh) ? r.Mpps : r.MppsHigh) - r.Mpps));
                down.Add(Math.Max(0, r.Mpps - (double.IsNaN(r.MppsLow) ? r.Mpps : r.MppsLow)));
                top = Math.Max(top, r.Mpps + up[^1]);
            }
            var bp = plot.Add.Bars(bars);
            bp.Color = color;
            bp.LegendText = strategies[s];
            var eb = plot.Add.ErrorBar(xs, ys, up);
            eb.YErrorNegative = down;
            eb.Color = Colors.Black;
            eb.LineWidth = 1.5f;
        }
        var ticks = new NumericManual();
        for (int g = 0; g < sizes.Count; g++)
        {
            ticks.AddMajor(g * (n + 1) + (n - 1) / 2.0, $"{sizes[g]} B");
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.SetLimits(-1, sizes.Count * (n + 1) - 1, 0, top * 1.15);
        plot.ShowLegend(Alignment.UpperRight);
        return ChartKit.Save(plot, dir, Stem, title, caption, hasData: true);
    }
}

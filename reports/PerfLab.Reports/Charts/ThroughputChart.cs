using ScottPlot;
using ScottPlot.TickGenerators;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Reports.Charts;

/// <summary>
/// Each configuration's own capacity per frame size: NDR (light, hatched) and PDR (solid) as
/// grouped bars, with the 95 % confidence interval over rounds as whiskers; one chart in
/// Mpps and one in Gb/s (frame bytes only).
/// </summary>
public static class ThroughputChart
{
    public const string MppsStem = "throughput-mpps";
    public const string GbpsStem = "throughput-gbps";

    public static RenderedChart RenderMpps(Report report, string dir) => Render(report, dir, gbps: false);

    public static RenderedChart RenderGbps(Report report, string dir) => Render(report, dir, gbps: true);

    private static RenderedChart Render(Report report, string dir, bool gbps)
    {
        string stem = gbps ? GbpsStem : MppsStem;
        string unit = gbps ? "Gb/s" : "Mpps";
        string title = $"Zero-loss (NDR) and partial-drop (PDR) throughput per frame size, {unit}";
        using var plot = ChartKit.NewPlot(title, "Frame size", $"Throughput ({unit}; whiskers: 95 % CI over rounds)");
        string caption = $"Each configuration's own capacity, found by MLRsearch every round: NDR (light, hatched) at zero loss, "
            + $"PDR (solid) at the goal loss ratio. Bars are medians over the rounds, whiskers their confidence interval "
            + (gbps ? "(frame bytes only, no virtio-net header)." : ".");
        var used = Summaries.UsedRounds(report);
        var configs = Views.With(report, Metrics.PdrMpps);
        if (configs.Count == 0)
        {
            ChartKit.NoData(plot, "no NDR/PDR search");
            return ChartKit.Save(plot, report, dir, stem, title, caption, hasData: false);
        }
        var sizes = configs.Select(c => c.FrameSize).Distinct().Order().ToList();
        double top = 0;
        double x0 = 0;
        var ticks = new NumericManual();
        foreach (int size in sizes)
        {
            var group = configs.Where(c => c.FrameSize == size).ToList();
            for (int i = 0; i < group.Count; i++)
            {
                ConfigInfo c = group[i];
                Color color = ChartKit.ColorOf(report, c.Id);
                double x = x0 + 2.2 * i;
                top = Math.Max(top, Bar(plot, report, c, Metrics.NdrMpps, x, color.WithAlpha(0.45), hatched: true, gbps, used, legend: null));
                top = Math.Max(top, Bar(plot, report, c, Metrics.PdrMpps, x + 1, color, hatched: false, gbps, used, legend: Views.LabelOf(c)));
            }
            ticks.AddMajor(x0 + (2.2 * group.Count - 1.2) / 2, $"{size} B");
            x0 += 2.2 * group.Count + 1.5;
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.SetLimits(-1, x0 - 1, 0, top * 1.15);
        return ChartKit.Save(plot, report, dir, stem, title, caption, hasData: true);
    }

    private static double Bar(Plot plot, Report report, ConfigInfo c, string metric, double x, Color color, bool hatched, bool gbps, HashSet<int> used, string? legend)
    {
        MedianInterval m = Summaries.Of(report, c.Id, metric, used);
        if (!double.IsFinite(m.Median))
        {
            return 0;
        }
        double scale = gbps ? c.FrameSize * 8 / 1000.0 : 1;
        double v = m.Median * scale;
        var bar = new ScottPlot.Bar { Position = x, Value = v, FillColor = color, LineWidth = 0 };
        if (hatched)
        {
            bar.FillHatch = new ScottPlot.Hatches.Striped();
            bar.FillHatchColor = color.WithAlpha(0.9);
        }
        var bp = plot.Add.Bars(new[] { bar });
        if (legend != null)
        {
            bp.LegendText = legend;
        }
        var (down, up) = ChartKit.Whiskers(v, m.Low * scale, m.High * scale);
        var eb = plot.Add.ErrorBar([x], [v], [up]);
        eb.YErrorNegative = [down];
        eb.Color = Colors.Black;
        eb.LineWidth = 1.5f;
        return v + up;
    }
}

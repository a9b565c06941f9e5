using ScottPlot;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Charts;

/// <summary>
/// The two charts against offered load, one line per strategy: round-trip latency (p99 solid,
/// p50 dashed; log scale) and the back-end's CPU. The x axis is the offered rate; an
/// unthrottled run sits at the rate it reached.
/// </summary>
public static class LoadCharts
{
    public const string LatencyStem = "latency-vs-load";
    public const string CpuStem = "cpu-vs-load";
    private const string XLabel = "Offered load (Mpps; diamonds: unthrottled, at the rate reached)";

    /// <summary>The sweep rows at the headline ring and frame size that have the figure a chart
    /// plots, by strategy, by load.</summary>
    public static List<(string Strategy, List<ConfigResult> Points)> Sweep(Report report, Func<ConfigResult, bool> hasFigure, out string where)
    {
        var ring = Views.HeadlineRing(report.Configs);
        var atRing = Views.AtHeadlineRing(report.Configs);
        int size = Views.HeadlineFrameSize(atRing);
        where = $"{size} B, queue {ring.Queue}, burst {ring.Burst}";
        var rows = atRing.Where(r => r.FrameSize == size && r.LoadAxisMpps > 0 && hasFigure(r)).ToList();
        return Views.Strategies(rows)
            .Select(s => (s, rows.Where(r => r.Strategy == s).OrderBy(r => r.LoadAxisMpps).ToList()))
            .ToList();
    }

    public static RenderedChart RenderLatency(Report report, string dir)
    {
        var sweep = Sweep(report, r => r.LatencySamples > 0, out string where);
        string title = $"Round-trip latency vs offered load ({where})";
        using var plot = ChartKit.NewPlot(title, XLabel, "Round-trip latency (log scale; thick p99, thin p50)");
        string caption = "Thick lines, filled markers: p99; thin lines, open markers: p50 of the round trip at each offered load. A line that turns "
            + "up steeply has reached the load it can sustain; busy polling stays flat until then, "
            + "sleeping strategies pay a wake-up at low load.";
        if (sweep.Count == 0)
        {
            ChartKit.NoData(plot, "no configuration with a latency histogram");
            return ChartKit.Save(plot, dir, LatencyStem, title, caption, hasData: false);
        }
        for (int i = 0; i < sweep.Count; i++)
        {
            var pts = sweep[i].Points;
            Draw(plot, pts, ChartKit.ColorOf(report, sweep[i].Strategy), sweep[i].Strategy, p => ChartKit.LogMicros(p.P99Ns), thin: false);
            Draw(plot, pts, ChartKit.ColorOf(report, sweep[i].Strategy), null, p => ChartKit.LogMicros(p.P50Ns), thin: true);
        }
        ChartKit.LogTimeAxisY(plot);
        plot.Axes.AutoScale();
        plot.ShowLegend(Alignment.UpperLeft);
        return ChartKit.Save(plot, dir, LatencyStem, title, caption, hasData: true);
    }

    public static RenderedChart RenderCpu(Report report, string dir)
    {
        var withCpu = Sweep(report, r => !double.IsNaN(r.BackendCpuPct), out string where);
        string title = $"Back-end CPU vs offered load ({where})";
        using var plot = ChartKit.NewPlot(title, XLabel, "Back-end CPU (% of one core; whiskers: min–max)");
        string caption = "CPU time the back-end process used over the measured iterations, in % of one core "
            + "(from its stats socket, or /proc for DPDK). Busy polling costs a full core at any load; "
            + "the gap to it is what a sleeping strategy saves.";
        if (withCpu.Count == 0)
        {
            ChartKit.NoData(plot, "no back-end CPU figures");
            return ChartKit.Save(plot, dir, CpuStem, title, caption, hasData: false);
        }
        double top = 100;
        for (int i = 0; i < withCpu.Count; i++)
        {
            var pts = withCpu[i].Points;
            if (pts.Count == 0)
            {
                continue;
            }
            Draw(plot, pts, ChartKit.ColorOf(report, withCpu[i].Strategy), withCpu[i].Strategy, p => p.BackendCpuPct, thin: false);
            double[] xs = pts.Select(p => p.LoadAxisMpps).ToArray();
            double[] ys = pts.Select(p => p.BackendCpuPct).ToArray();
            var up = pts.Select(p => double.IsNaN(p.BackendCpuPctHigh) ? 0 : Math.Max(0, p.BackendCpuPctHigh - p.BackendCpuPct)).ToArray();
            var down = pts.Select(p => double.IsNaN(p.BackendCpuPctLow) ? 0 : Math.Max(0, p.BackendCpuPct - p.BackendCpuPctLow)).ToArray();
            var eb = plot.Add.ErrorBar(xs, ys, up);
            eb.YErrorNegative = down;
            eb.Color = ChartKit.ColorOf(report, withCpu[i].Strategy);
            top = Math.Max(top, pts.Max(p => double.IsNaN(p.BackendCpuPctHigh) ? p.BackendCpuPct : p.BackendCpuPctHigh));
        }
        plot.Axes.AutoScale();
        plot.Axes.SetLimitsY(0, top * 1.1);
        plot.ShowLegend(Alignment.LowerRight);
        return ChartKit.Save(plot, dir, CpuStem, title, caption, hasData: true);
    }

    /// <summary>One strategy's line over its throttled points, and a diamond, unconnected, for
    /// its unthrottled point (whose x is the rate it reached, not one it was offered).</summary>
    /// (Thin lines with open markers rather than dashes: the SVG back-end draws no dashes.)
    private static void Draw(Plot plot, List<ConfigResult> pts, Color color, string? legend, Func<ConfigResult, double> y, bool thin)
    {
        float width = thin ? 1 : 2.5f;
        float marker = thin ? 6 : 8;
        var swept = pts.Where(p => !p.Unthrottled).OrderBy(p => p.LoadAxisMpps).ToList();
        if (swept.Count > 0)
        {
            var line = plot.Add.Scatter(swept.Select(p => p.LoadAxisMpps).ToArray(), swept.Select(y).ToArray(), color);
            line.LineWidth = width;
            line.MarkerSize = marker;
            line.MarkerShape = thin ? MarkerShape.OpenCircle : MarkerShape.FilledCircle;
            if (legend != null)
            {
                line.LegendText = legend;
                legend = null;
            }
        }
        foreach (ConfigResult p in pts.Where(p => p.Unthrottled))
        {
            var m = plot.Add.Marker(p.LoadAxisMpps, y(p), thin ? MarkerShape.OpenDiamond : MarkerShape.FilledDiamond, marker * 1.6f, color);
            if (legend != null)
            {
                m.LegendText = legend;
                legend = null;
            }
        }
    }
}

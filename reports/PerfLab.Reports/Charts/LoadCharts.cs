using ScottPlot;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Reports.Charts;

/// <summary>
/// The charts against offered load, one line per configuration over its own load points (one
/// frame in flight, then 10, 50 and 90 % of its own PDR): round-trip latency (the hockey stick,
/// p99 thick and p50 thin, log scale) and CPU of both processes. x is the median offered rate
/// over rounds; whiskers are the 95 % interval of the y figure over rounds.
/// </summary>
public static class LoadCharts
{
    public const string LatencyStem = "latency-vs-load";
    public const string CpuStem = "cpu-vs-load";
    private const string XLabel = "Offered load (Mpps; points: one frame in flight, 10, 50, 90 % of each configuration's own PDR)";

    /// <summary>(x, y, y interval) of a configuration's load points that have both figures.</summary>
    public static List<(double X, MedianInterval Y)> Points(Report r, ConfigInfo c, string quantity, HashSet<int> used)
    {
        var pts = new List<(double, MedianInterval)>();
        foreach (int load in Metrics.LoadPoints)
        {
            string xMetric = load == 0 ? Metrics.At(Metrics.RxMpps, 0) : Metrics.At(Metrics.OfferedMpps, load);
            MedianInterval x = Summaries.Of(r, c.Id, xMetric, used);
            MedianInterval y = Summaries.Of(r, c.Id, Metrics.At(quantity, load), used);
            if (double.IsFinite(x.Median) && double.IsFinite(y.Median))
            {
                pts.Add((x.Median, y));
            }
        }
        return pts;
    }

    public static RenderedChart RenderLatency(Report report, string dir)
    {
        string title = "Round-trip latency vs offered load, up to 90 % of each configuration's own PDR";
        using var plot = ChartKit.NewPlot(title, XLabel, "Round-trip latency (log scale; thick p99, thin p50)");
        string caption = "Thick lines, filled markers: p99; thin lines, open markers: p50, medians over rounds, whiskers the 95 % "
            + "interval of p99. Each line stops at 90 % of its own PDR, so a sleeping strategy is not shown behind a queue it "
            + "cannot drain. Busy polling stays flat; a strategy that sleeps pays its wake-up at low load.";
        var used = Summaries.UsedRounds(report);
        bool any = false;
        foreach (ConfigInfo c in report.Configs)
        {
            var p99 = Points(report, c, Metrics.P99Us, used);
            var p50 = Points(report, c, Metrics.P50Us, used);
            if (p99.Count == 0)
            {
                continue;
            }
            any = true;
            var (color, shape) = ChartKit.StyleOf(report, c.Id);
            Line(plot, p99, color, shape, 2.5f, 8, Views.LabelOf(c), log: true);
            if (p50.Count > 0)
            {
                Line(plot, p50, color, ChartKit.Open(shape), 1, 6, null, log: true, whiskers: false);
            }
        }
        if (!any)
        {
            ChartKit.NoData(plot, "no latency at the load points");
            return ChartKit.Save(plot, report, dir, LatencyStem, title, caption, hasData: false);
        }
        ChartKit.LogTimeAxisY(plot);
        plot.Axes.AutoScale();
        return ChartKit.Save(plot, report, dir, LatencyStem, title, caption, hasData: true);
    }

    public static RenderedChart RenderCpu(Report report, string dir)
    {
        string title = "CPU of the back-end and the load generator vs offered load";
        using var plot = ChartKit.NewPlot(title, XLabel, "CPU (% of one core; whiskers: 95 % CI)");
        string caption = "Solid lines, filled markers: the back-end process (its stats socket, or /proc for DPDK); thin lines, open "
            + "markers: the load generator (the guest). Busy polling costs a full core at any load; the gap to it is what a "
            + "sleeping strategy saves. CPU per frame is in the tables.";
        var used = Summaries.UsedRounds(report);
        bool any = false;
        double top = 100;
        foreach (ConfigInfo c in report.Configs)
        {
            var be = Points(report, c, Metrics.BackendCpuPct, used);
            var lg = Points(report, c, Metrics.LoadgenCpuPct, used);
            if (be.Count == 0 && lg.Count == 0)
            {
                continue;
            }
            any = true;
            var (color, shape) = ChartKit.StyleOf(report, c.Id);
            if (be.Count > 0)
            {
                Line(plot, be, color, shape, 2.5f, 8, Views.LabelOf(c), log: false);
                top = Math.Max(top, be.Max(p => double.IsFinite(p.Y.High) ? p.Y.High : p.Y.Median));
            }
            if (lg.Count > 0)
            {
                Line(plot, lg, color, ChartKit.Open(shape), 1, 6, be.Count == 0 ? Views.LabelOf(c) : null, log: false);
                top = Math.Max(top, lg.Max(p => double.IsFinite(p.Y.High) ? p.Y.High : p.Y.Median));
            }
        }
        if (!any)
        {
            ChartKit.NoData(plot, "no CPU figures at the load points");
            return ChartKit.Save(plot, report, dir, CpuStem, title, caption, hasData: false);
        }
        plot.Axes.AutoScale();
        plot.Axes.SetLimitsY(0, top * 1.1);
        return ChartKit.Save(plot, report, dir, CpuStem, title, caption, hasData: true);
    }

    /// <summary>A line through the points with their intervals as whiskers (log: y is a latency in µs, on a log axis).</summary>
    internal static void Line(Plot plot, List<(double X, MedianInterval Y)> pts, Color color, MarkerShape shape, float width, float marker,
        string? legend, bool log, bool whiskers = true)
    {
        double[] xs = pts.Select(p => p.X).ToArray();
        double Y(double v) => log ? ChartKit.LogMicros(v) : v;
        double[] ys = pts.Select(p => Y(p.Y.Median)).ToArray();
        var line = plot.Add.Scatter(xs, ys, color);
        line.LineWidth = width;
        line.MarkerSize = marker;
        line.MarkerShape = shape;
        if (legend != null)
        {
            line.LegendText = legend;
        }
        if (whiskers)
        {
            var down = pts.Select(p => double.IsFinite(p.Y.Low) ? Math.Max(0, Y(p.Y.Median) - Y(p.Y.Low)) : 0).ToArray();
            var up = pts.Select(p => double.IsFinite(p.Y.High) ? Math.Max(0, Y(p.Y.High) - Y(p.Y.Median)) : 0).ToArray();
            var eb = plot.Add.ErrorBar(xs, ys, up);
            eb.YErrorNegative = down;
            eb.Color = color;
        }
    }
}

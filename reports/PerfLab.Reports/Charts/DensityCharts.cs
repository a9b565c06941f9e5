using System.Globalization;
using ScottPlot;
using ScottPlot.TickGenerators;
using PerfLab.Reports.Density;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Reports.Charts;

/// <summary>
/// The density benchmark's two plots against device count (log2 axis, one tick per measured
/// count), one line per back-end strategy: p99 latency (log scale, the limit dashed), and the
/// back-end's CPU under the load (thick) and idle with every device silent (thin, open
/// markers). Whiskers are the 95 % interval over rounds.
/// </summary>
public static class DensityCharts
{
    public const string P99Stem = "density-p99";
    public const string CpuStem = "density-cpu";
    private const string XLabel = "Devices on one back-end worker core (log scale)";

    public static RenderedChart RenderP99(DensityTable t, string dir)
    {
        string title = "p99 round-trip latency vs device count, fixed total offered load";
        using var plot = ChartKit.NewPlot(title, XLabel, "p99 latency (log scale; whiskers: 95 % CI)");
        string caption = $"One line per back-end strategy: the median p99 over rounds at each device count, the total offered "
            + $"load split evenly over the devices. Dashed: the {t.P99LimitUs.ToString("0.##", CultureInfo.InvariantCulture)} µs limit of the table's 'holds'.";
        bool any = false;
        int i = 0;
        foreach (string s in t.Strategies)
        {
            var (color, shape) = ChartKit.StyleOf(i++);
            any |= Line(plot, Points(t, s, Metrics.P99Us), color, shape, 2.5f, 8, s, log: true);
        }
        if (!any)
        {
            ChartKit.NoData(plot, "no latency figures");
            return ChartKit.Save(plot, t.Report, dir, P99Stem, title, caption, hasData: false);
        }
        var limit = plot.Add.HorizontalLine(ChartKit.LogMicros(t.P99LimitUs), 1.5f, Colors.Black);
        limit.LinePattern = LinePattern.Dashed;
        ChartKit.LogTimeAxisY(plot);
        CountAxis(plot, t);
        plot.Axes.AutoScale();
        return ChartKit.Save(plot, t.Report, dir, P99Stem, title, caption, hasData: true);
    }

    public static RenderedChart RenderCpu(DensityTable t, string dir)
    {
        string title = "Back-end CPU vs device count: under the load, and idle";
        using var plot = ChartKit.NewPlot(title, XLabel, "Back-end CPU (% of one core; whiskers: 95 % CI)");
        string caption = "Thick lines, filled markers: the back-end process under the fixed total load; thin lines, open markers: "
            + "the same with every device connected and silent (the idle cost). Busy polling costs its core whatever the load; "
            + "a sleeping strategy pays per wake-up, so its cost grows with the devices it serves. CPU per frame is in the table.";
        bool any = false;
        double top = 100;
        int i = 0;
        foreach (string s in t.Strategies)
        {
            var (color, shape) = ChartKit.StyleOf(i++);
            var load = Points(t, s, Metrics.BackendCpuPct);
            var idle = Points(t, s, DensityTable.IdleCpuPct);
            any |= Line(plot, load, color, shape, 2.5f, 8, s, log: false);
            any |= Line(plot, idle, color, ChartKit.Open(shape), 1, 6, load.Count == 0 ? s + " (idle)" : null, log: false);
            foreach (var p in load.Concat(idle))
            {
                top = Math.Max(top, double.IsFinite(p.Y.High) ? p.Y.High : p.Y.Median);
            }
        }
        if (!any)
        {
            ChartKit.NoData(plot, "no back-end CPU figures");
            return ChartKit.Save(plot, t.Report, dir, CpuStem, title, caption, hasData: false);
        }
        CountAxis(plot, t);
        plot.Axes.AutoScale();
        plot.Axes.SetLimitsY(0, top * 1.1);
        return ChartKit.Save(plot, t.Report, dir, CpuStem, title, caption, hasData: true);
    }

    /// <summary>(log2 of the count, the figure) of a strategy's cells that have it.</summary>
    private static List<(double X, MedianInterval Y)> Points(DensityTable t, string strategy, string metric) =>
        [.. t.Cells.Where(c => c.Strategy == strategy && double.IsFinite(c.Median(metric))).Select(c => (Math.Log2(c.Devices), c[metric]))];

    private static void CountAxis(Plot plot, DensityTable t)
    {
        var ticks = new NumericManual();
        foreach (int n in t.Counts)
        {
            ticks.AddMajor(Math.Log2(n), n.ToString(CultureInfo.InvariantCulture));
        }
        plot.Axes.Bottom.TickGenerator = ticks;
    }

    private static bool Line(Plot plot, List<(double X, MedianInterval Y)> pts, Color color, MarkerShape shape, float width, float marker, string? legend, bool log)
    {
        if (pts.Count == 0)
        {
            return false;
        }
        LoadCharts.Line(plot, pts, color, shape, width, marker, legend, log);
        return true;
    }
}

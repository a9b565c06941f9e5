using ScottPlot;
using ScottPlot.TickGenerators;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Charts;

/// <summary>
/// The latency percentile spectrum per configuration at one load point (half of its own PDR),
/// as HdrHistogram plots it: the x axis is the percentile on a log scale of 1/(1-p) (0 %,
/// 90 %, 99 %, 99.9 %...), so each decade of tail gets the same width; the y axis is the
/// round-trip latency, log scaled. Merged over the run's unflagged rounds.
/// </summary>
public static class LatencySpectrumChart
{
    public const string Stem = "latency-percentiles";

    /// <summary>The most nines shown (99.9999 %).</summary>
    public const int MaxNines = 6;

    public static double PercentileToX(double percentile) =>
        Math.Min(MaxNines, -Math.Log10(Math.Max(1 - percentile / 100, Math.Pow(10, -MaxNines))));

    public static RenderedChart Render(Report report, string dir)
    {
        int load = Views.SpectrumLoad;
        string title = $"Round-trip latency by percentile at {Metrics.LoadText(load)} of each configuration";
        using var plot = ChartKit.NewPlot(title, "Percentile (log scale of 1/(1-p))", "Round-trip latency (log scale)");
        string caption = "Each line is one configuration's latency distribution at half its own PDR, merged over the rounds "
            + "(HdrHistogram): read across to a percentile, up to its latency. Flat and low is good; the right end is the tail "
            + "a few frames in a million see.";
        int nines = 1;
        int drawn = 0;
        foreach (ConfigInfo c in report.Configs)
        {
            var pts = report.PercentilesOf(c.Id).Where(p => p.Load == load && p.Percentile < 100).OrderBy(p => p.Percentile).ToList();
            if (pts.Count == 0)
            {
                continue;
            }
            double[] xs = pts.Select(p => PercentileToX(p.Percentile)).ToArray();
            double[] ys = pts.Select(p => ChartKit.LogMicros(p.LatencyNs / 1000)).ToArray();
            nines = Math.Max(nines, (int)Math.Ceiling(xs.Max()));
            var (color, shape) = ChartKit.StyleOf(report, c.Id);
            var line = plot.Add.ScatterLine(xs, ys, color);
            line.LineWidth = 2;
            line.MarkerShape = shape;
            line.MarkerSize = 5;
            line.LegendText = Views.LabelOf(c);
            drawn++;
        }
        if (drawn == 0)
        {
            ChartKit.NoData(plot, "no latency histogram");
            return ChartKit.Save(plot, report, dir, Stem, title, caption, hasData: false);
        }
        var ticks = new NumericManual();
        for (int k = 0; k <= nines; k++)
        {
            ticks.AddMajor(k, PercentileLabel(k));
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        ChartKit.LogTimeAxisY(plot);
        plot.Axes.AutoScale();
        plot.Axes.SetLimitsX(-0.1, nines + 0.35); // room for the last tick label
        return ChartKit.Save(plot, report, dir, Stem, title, caption, hasData: true);
    }

    /// <summary>0 → "0%", 1 → "90%", 2 → "99%", 3 → "99.9%"...</summary>
    public static string PercentileLabel(int nines) => nines switch
    {
        0 => "0%",
        1 => "90%",
        2 => "99%",
        _ => "99." + new string('9', nines - 2) + "%",
    };
}

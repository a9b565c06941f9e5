using ScottPlot;
using ScottPlot.TickGenerators;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Charts;

/// <summary>
/// The latency percentile spectrum per strategy, as HdrHistogram plots it: the x axis is the
/// percentile on a log scale of 1/(1-p) (0 %, 90 %, 99 %, 99.9 %...), so each decade of tail
/// gets the same width; the y axis is the round-trip latency, log scaled.
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
        var ring = Views.HeadlineRing(report.Configs);
        var atRing = Views.AtHeadlineRing(report.Configs);
        int size = Views.HeadlineFrameSize(atRing);
        int load = Views.SpectrumLoad(atRing.Where(r => r.FrameSize == size).ToList());
        var rows = Views.Ordered(atRing.Where(r => r.FrameSize == size && r.LoadPct == load)).ToList();
        string loadText = load >= 100 ? "maximum load" : $"{load} % load";
        string title = $"Round-trip latency by percentile ({size} B, queue {ring.Queue}, burst {ring.Burst}, {loadText})";
        using var plot = ChartKit.NewPlot(title, "Percentile (log scale of 1/(1-p))", "Round-trip latency (log scale)");
        string caption = "Each line is one configuration's latency distribution over its measured iterations "
            + "(HdrHistogram): read across to a percentile, up to its latency. Flat and low is good; "
            + "the right end is the tail a few frames in a million see.";
        int nines = 1;
        int drawn = 0;
        for (int i = 0; i < rows.Count; i++)
        {
            var pts = report.PercentilesOf(rows[i].Id).Where(p => p.Percentile < 100).OrderBy(p => p.Percentile).ToList();
            if (pts.Count == 0)
            {
                continue;
            }
            double[] xs = pts.Select(p => PercentileToX(p.Percentile)).ToArray();
            double[] ys = pts.Select(p => ChartKit.LogMicros(p.LatencyNs)).ToArray();
            nines = Math.Max(nines, (int)Math.Ceiling(xs.Max()));
            var line = plot.Add.ScatterLine(xs, ys, ChartKit.ColorOf(report, rows[i].Strategy));
            line.LineWidth = 2;
            line.LegendText = rows[i].Strategy;
            drawn++;
        }
        if (drawn == 0)
        {
            ChartKit.NoData(plot, "no latency histogram");
            return ChartKit.Save(plot, dir, Stem, title, caption, hasData: false);
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
        plot.ShowLegend(Alignment.LowerRight);
        return ChartKit.Save(plot, dir, Stem, title, caption, hasData: true);
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

using ScottPlot;
using ScottPlot.TickGenerators;
using PerfLab.Reports.Charts;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Compare;

/// <summary>One configuration across runs: each metric's median (with its interval) relative to
/// its first run, so that throughput, latency and CPU share one axis; the runs on the x axis by
/// id, commit and date; a regression against the previous run marked with a red cross.</summary>
public static class HistoryChart
{
    public static RenderedChart Render(ConfigHistory h, Report latest, string dir)
    {
        string stem = "history-" + string.Concat(h.ConfigId.Select(ch => char.IsLetterOrDigit(ch) || ch is '-' or '_' ? ch : '_'));
        string title = $"{h.Label} across runs";
        using var plot = ChartKit.NewPlot(title, "Run", "Median ÷ the first run's (1 = unchanged)");
        bool any = false;
        for (int mi = 0; mi < h.Metrics.Count; mi++)
        {
            string m = h.Metrics[mi];
            double first = h.Points.Select(p => p.Values[m].Median).FirstOrDefault(double.IsFinite);
            if (!double.IsFinite(first) || first == 0)
            {
                continue;
            }
            var (color, shape) = ChartKit.StyleOf(mi);
            var xs = new List<double>();
            var ys = new List<double>();
            for (int i = 0; i < h.Points.Count; i++)
            {
                var v = h.Points[i].Values[m];
                if (!double.IsFinite(v.Median))
                {
                    continue;
                }
                double y = v.Median / first;
                xs.Add(i);
                ys.Add(y);
                var (down, up) = ChartKit.Whiskers(y, v.Low / first, v.High / first);
                var eb = plot.Add.ErrorBar([(double)i], [y], [up]);
                eb.YErrorNegative = [down];
                eb.Color = color;
                if (h.Points[i].Regressions.Contains(m))
                {
                    plot.Add.Marker(i, y, MarkerShape.Eks, 16, Colors.Red);
                }
            }
            var s = plot.Add.Scatter(xs.ToArray(), ys.ToArray(), color);
            s.MarkerShape = shape;
            s.LegendText = Metrics.Def(m).Title;
            any = true;
        }
        var ticks = new NumericManual();
        for (int i = 0; i < h.Points.Count; i++)
        {
            var r = h.Points[i].Run;
            ticks.AddMajor(i, $"#{r.Id} {r.CommitText}\n{(r.RunDate.Length >= 10 ? r.RunDate[..10] : r.RunDate)}");
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        if (!any)
        {
            ChartKit.NoData(plot, "no metric with a value in the first run");
        }
        return ChartKit.Save(plot, latest, dir, stem, title, "Median of each run relative to the first run, with the 95 % interval; a red cross marks a regression against the previous run.", any);
    }
}

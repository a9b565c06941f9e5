using PerfLab.Reports.Model;

namespace PerfLab.Reports.Charts;

/// <summary>Renders every chart of a report into a folder, in the order report.md shows them.</summary>
public static class ReportCharts
{
    public static readonly IReadOnlyList<string> Stems =
        [ThroughputChart.MppsStem, ThroughputChart.GbpsStem, LoadCharts.LatencyStem, LoadCharts.CpuStem, LatencySpectrumChart.Stem, RatioChart.Stem];

    public static IReadOnlyList<RenderedChart> RenderAll(Report report, string dir) =>
    [
        ThroughputChart.RenderMpps(report, dir),
        ThroughputChart.RenderGbps(report, dir),
        LoadCharts.RenderLatency(report, dir),
        LoadCharts.RenderCpu(report, dir),
        LatencySpectrumChart.Render(report, dir),
        RatioChart.Render(report, dir),
    ];
}

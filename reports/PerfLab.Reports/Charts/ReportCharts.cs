using PerfLab.Reports.Model;

namespace PerfLab.Reports.Charts;

/// <summary>Renders every chart of a report into a folder, in the order report.md shows them.</summary>
public static class ReportCharts
{
    public static IReadOnlyList<RenderedChart> RenderAll(Report report, string dir) =>
    [
        ThroughputChart.Render(report, dir),
        LatencySpectrumChart.Render(report, dir),
        LoadCharts.RenderLatency(report, dir),
        LoadCharts.RenderCpu(report, dir),
    ];
}

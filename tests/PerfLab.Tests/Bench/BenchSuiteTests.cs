using PerfLab.Reports.Charts;
using PerfLab.Reports.Csv;
using PerfLab.Reports.Markdown;
using PerfLab.Tests.Infrastructure;
using PerfLab.Tests.Reports;
using Xunit;

namespace PerfLab.Tests.Bench;

public sealed class BenchSuiteTests
{
    /// <summary>
    /// The whole suite, tiny: BenchmarkDotNet's dry job (one iteration per case), in process
    /// (no generated project to build), the smoke profile (interrupt strategies only: nothing
    /// busy-polls), micro-benchmarks included. It must leave a complete report folder.
    /// </summary>
    [Fact]
    public void DryRunOfTheSuiteProducesAReportFolder()
    {
        using var tmp = new TempDir();
        string root = tmp.File("reports");
        using var bench = new Daemon("PerfLab.Bench", "--profile", "smoke", "--job", "dry", "--inProcess",
            "--allow-debug-build", "--out", root, "--artifacts", tmp.File("bdn"));
        int code = bench.WaitForExit(TimeSpan.FromMinutes(2));
        Assert.True(code == 0, $"exit {code}\n{Tail(bench.Stdout)}\n{bench.Stderr}");

        string latest = Path.Combine(root, "latest");
        Assert.True(File.Exists(Path.Combine(latest, MarkdownReport.FileName)), Tail(bench.Stdout));
        var report = ReportCsv.Read(latest);
        Assert.Equal(2, report.Configs.Count);
        Assert.All(report.Configs, c =>
        {
            Assert.True(c.Mpps > 0, $"{c.Id}: no throughput");
            Assert.True(c.LatencySamples > 0, $"{c.Id}: no latency from the measured iteration");
            Assert.True(c.BackendCpuPct > 0, $"{c.Id}: no back-end CPU");
        });
        Assert.Contains(report.Configs, c => c.LoadPct == 50 && c.OfferedMpps > 0);
        Assert.NotEmpty(report.Percentiles);
        Assert.Contains(report.Micro, m => m.Benchmark == "RingBenchmarks.ChainWalk");
        // Allocation is measured (a dry run's single cold invocation includes the JIT's own
        // allocations, so 0 B/op is for real runs to show).
        Assert.All(report.Micro, m => Assert.False(double.IsNaN(m.AllocatedBytesPerOp), m.Benchmark));
        foreach (string stem in new[] { ThroughputChart.Stem, LatencySpectrumChart.Stem, LoadCharts.LatencyStem, LoadCharts.CpuStem })
        {
            Assert.Equal((ChartKit.Width, ChartKit.Height), ChartTests.PngSize(Path.Combine(latest, stem + ".png")));
        }
    }

    private static string Tail(string s) => s.Length > 6000 ? s[^6000..] : s;
}

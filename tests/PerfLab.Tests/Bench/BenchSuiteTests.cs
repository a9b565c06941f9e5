using PerfLab.Reports.Charts;
using PerfLab.Reports.Csv;
using PerfLab.Reports.Markdown;
using PerfLab.Reports.Model;
using PerfLab.Tests.Infrastructure;
using PerfLab.Tests.Reports;
using Xunit;

namespace PerfLab.Tests.Bench;

public sealed class BenchSuiteTests
{
    /// <summary>
    /// The whole suite, tiny: the smoke profile's rounds (interrupt strategies only, no
    /// cache-line ping-pong: nothing busy-polls) against real back-ends, and BenchmarkDotNet's
    /// dry job in process for the micro-benchmarks. It must leave a complete report folder.
    /// </summary>
    [Fact]
    public void DryRunOfTheSuiteProducesACompleteReportFolder()
    {
        using var tmp = new TempDir();
        string root = tmp.File("reports");
        using var bench = new Daemon("PerfLab.Bench", "--profile", "smoke", "--job", "dry", "--inProcess",
            "--allow-debug-build", "--out", root, "--artifacts", tmp.File("bdn"));
        int code = bench.WaitForExit(TimeSpan.FromMinutes(4));
        Assert.True(code == 0, $"exit {code}\n{Tail(bench.Stdout)}\n{bench.Stderr}");

        string latest = Path.Combine(root, "latest");
        Report report = ReportCsv.Read(latest);
        Assert.Equal(["interrupt-64", "interrupt-1500"], report.Configs.Select(c => c.Id));
        Assert.Equal(2, report.Rounds.Count);
        // rounds.csv: one row per round and configuration, each with its own NDR and PDR.
        Assert.Equal(4, report.Samples.Count);
        Assert.All(report.Samples, s =>
        {
            Assert.True(s.Get(Metrics.PdrMpps) > 0, $"{s.ConfigId} round {s.Round}: no PDR");
            Assert.True(s.Get(Metrics.NdrMpps) >= 0, $"{s.ConfigId} round {s.Round}: no NDR");
            Assert.True(s.Get(Metrics.At(Metrics.P99Us, 0)) > 0, $"{s.ConfigId} round {s.Round}: no latency floor");
            Assert.True(s.Get(Metrics.At(Metrics.BackendCpuPct, 50)) > 0, $"{s.ConfigId} round {s.Round}: no back-end CPU");
        });
        Assert.NotEmpty(report.Trials);
        string md = File.ReadAllText(Path.Combine(latest, MarkdownReport.FileName));
        Assert.Contains("| Configuration | NDR Mpps | PDR Mpps |", md);
        Assert.Contains(report.Micro, m => m.Benchmark == "RingBenchmarks.ChainWalk");
        foreach (string stem in ReportCharts.Stems)
        {
            Assert.Equal((ChartKit.Width, ChartKit.Height), ChartTests.PngSize(Path.Combine(latest, stem + ".png")));
        }
    }

    [Theory]
    [InlineData("unknown profile 'fastest'", "--profile", "fastest")]
    [InlineData("--pdr-loss is a loss ratio and must be in [0, 1)", "--pdr-loss", "1")]
    [InlineData("--pdr-loss is a loss ratio and must be in [0, 1)", "--pdr-loss", "-0.01")]
    [InlineData("--trial-duration must be positive", "--trial-duration", "0")]
    [InlineData("--rounds must be a whole number", "--rounds", "0")]
    [InlineData("--max-rounds must be a whole number", "--max-rounds", "2.5")]
    [InlineData("--backend-poll: unknown poll mode", "--backend-poll", "sometimes")]
    public void BadInputGetsAClearMessageAndExit2(string message, params string[] args)
    {
        using var bench = new Daemon("PerfLab.Bench", args);
        int code = bench.WaitForExit(TimeSpan.FromSeconds(60));
        Assert.Equal(2, code);
        Assert.Contains(message, bench.Stderr, StringComparison.Ordinal);
    }

    private static string Tail(string s) => s.Length > 6000 ? s[^6000..] : s;
}

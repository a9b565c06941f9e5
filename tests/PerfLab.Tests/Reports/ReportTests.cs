using System.Buffers.Binary;
using PerfLab.Reports;
using PerfLab.Reports.Charts;
using PerfLab.Reports.Csv;
using PerfLab.Reports.Markdown;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Diagnostics;
using Xunit;

namespace PerfLab.Tests.Reports;

public sealed class ChartTests
{
    public static TheoryData<string> Charts => new(ReportCharts.Stems);

    private static RenderedChart RenderOne(string stem, Report report, string dir) => stem switch
    {
        ThroughputChart.MppsStem => ThroughputChart.RenderMpps(report, dir),
        ThroughputChart.GbpsStem => ThroughputChart.RenderGbps(report, dir),
        LatencySpectrumChart.Stem => LatencySpectrumChart.Render(report, dir),
        LoadCharts.LatencyStem => LoadCharts.RenderLatency(report, dir),
        LoadCharts.CpuStem => LoadCharts.RenderCpu(report, dir),
        _ => RatioChart.Render(report, dir),
    };

    /// <summary>Width and height from a PNG's IHDR chunk (bytes 16-23).</summary>
    public static (int W, int H) PngSize(string path)
    {
        byte[] b = File.ReadAllBytes(path);
        Assert.True(b.Length > 24, $"{path} is too short for a PNG");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, b[..4]);
        return (BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(20)));
    }

    [Theory]
    [MemberData(nameof(Charts))]
    public void RendersPngAndSvgWithTheProvenanceFooterFromFixedData(string stem)
    {
        using var tmp = new TempDir();
        Report r = SampleData.Create();
        RenderedChart c = RenderOne(stem, r, tmp.Path);
        Assert.True(c.HasData, stem);
        Assert.Equal(stem + ".png", c.PngFile);
        Assert.True(new FileInfo(c.PngPath).Length > 5_000, "PNG suspiciously small");
        Assert.Equal((ChartKit.Width, ChartKit.Height), PngSize(c.PngPath));
        string svg = File.ReadAllText(c.SvgPath);
        Assert.Contains("<svg", svg);
        // Every plot says where it comes from: commit, date, host, c2c range of the run.
        Assert.Contains("abc1234", svg);
        Assert.Contains("testhost", svg);
        Assert.Contains("2026-01-02", svg);
        Assert.Contains("c2c 55–330 ns", svg);
        Assert.False(string.IsNullOrWhiteSpace(c.Title));
    }

    [Theory]
    [MemberData(nameof(Charts))]
    public void RendersAnExplainedEmptyChartWhenTheRunHasNoData(string stem)
    {
        using var tmp = new TempDir();
        RenderedChart c = RenderOne(stem, new Report(), tmp.Path);
        Assert.False(c.HasData);
        Assert.Equal((ChartKit.Width, ChartKit.Height), PngSize(c.PngPath));
    }

    [Fact]
    public void NoTwoSeriesShareColourAndMarkerEvenPastThePalette()
    {
        var styles = Enumerable.Range(0, 60).Select(ChartKit.StyleOf).Select(s => (s.Color.ToHex(), s.Shape)).ToList();
        Assert.Equal(styles.Count, styles.Distinct().Count());
        // The first 25 differ by colour alone.
        Assert.Equal(25, styles.Take(25).Select(s => s.Item1).Distinct().Count());
    }

    [Fact]
    public void PercentileAxisPutsEachNineOneDecadeApart()
    {
        Assert.Equal(0, LatencySpectrumChart.PercentileToX(0), 6);
        Assert.Equal(1, LatencySpectrumChart.PercentileToX(90), 6);
        Assert.Equal(3, LatencySpectrumChart.PercentileToX(99.9), 6);
        Assert.Equal(LatencySpectrumChart.MaxNines, LatencySpectrumChart.PercentileToX(100), 6);
        Assert.Equal("99.9%", LatencySpectrumChart.PercentileLabel(3));
        Assert.Equal("99%", LatencySpectrumChart.PercentileLabel(2));
    }
}

public sealed class ReportCsvTests
{
    [Fact]
    public void EveryFileRoundTripsIncludingUnknownValues()
    {
        using var tmp = new TempDir();
        Report a = SampleData.Create();
        a.Samples[0].Values[Metrics.At(Metrics.BackendCpuPct, 50)] = double.NaN;
        ReportCsv.Write(a, tmp.Path);
        Report b = ReportCsv.Read(tmp.Path);

        Assert.Equal(a.Run.Facts.Select(f => (f.Key, f.Value)), b.Run.Facts.Select(f => (f.Key, f.Value)));
        Assert.Equal(a.Configs.Select(c => (c.Id, c.Label, c.Reference, c.FrameSize, c.BackendPoll)), b.Configs.Select(c => (c.Id, c.Label, c.Reference, c.FrameSize, c.BackendPoll)));
        Assert.Equal(a.Rounds.Select(r => (r.Round, r.C2cNs, r.C2cClass, r.Flagged, r.Order)), b.Rounds.Select(r => (r.Round, r.C2cNs, r.C2cClass, r.Flagged, r.Order)));
        Assert.Equal(a.Samples.Count, b.Samples.Count);
        for (int i = 0; i < a.Samples.Count; i++)
        {
            Assert.Equal((a.Samples[i].Round, a.Samples[i].ConfigId, a.Samples[i].Position), (b.Samples[i].Round, b.Samples[i].ConfigId, b.Samples[i].Position));
            Assert.Equal(a.Samples[i].Values.Count, b.Samples[i].Values.Count);
            foreach (var (k, v) in a.Samples[i].Values)
            {
                Assert.True(v.Equals(b.Samples[i].Values[k]), $"{k}: {v} != {b.Samples[i].Values[k]}");
            }
        }
        Assert.True(double.IsNaN(b.Samples[0].Get(Metrics.At(Metrics.BackendCpuPct, 50))));
        Assert.Equal(a.Percentiles.Select(p => (p.ConfigId, p.Load, p.Percentile, p.LatencyNs)), b.Percentiles.Select(p => (p.ConfigId, p.Load, p.Percentile, p.LatencyNs)));
        Assert.Equal(a.Micro.Single().Description, b.Micro.Single().Description);
    }

    [Fact]
    public void RoundsCsvHasOneRowPerRoundAndConfiguration()
    {
        using var tmp = new TempDir();
        Report a = SampleData.Create();
        ReportCsv.Write(a, tmp.Path);
        string[] lines = File.ReadAllLines(Path.Combine(tmp.Path, ReportCsv.RoundsFile));
        Assert.Equal(1 + a.Rounds.Count * a.Configs.Count, lines.Length);
        Assert.StartsWith("Round,ConfigId,Position,", lines[0], StringComparison.Ordinal);
        Assert.Contains(Metrics.NdrMpps, lines[0]);
        Assert.Contains(Metrics.At(Metrics.P99Us, 90), lines[0]);
    }

    [Fact]
    public void ReadingAFolderWithMissingFilesFailsClearly()
    {
        using var tmp = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => ReportCsv.Read(tmp.Path));
        Assert.Contains("not a complete report folder", e.Message);
        ReportCsv.Write(SampleData.Create(), tmp.Path);
        File.Delete(Path.Combine(tmp.Path, ReportCsv.RoundsFile));
        e = Assert.Throws<FileNotFoundException>(() => ReportCsv.Read(tmp.Path));
        Assert.Contains(ReportCsv.RoundsFile, e.Message);
    }
}

public sealed class MarkdownReportTests
{
    [Fact]
    public void LinksEveryPlotInPngAndSvgAndEveryFileExists()
    {
        using var tmp = new TempDir();
        var charts = ReportFolder.Write(SampleData.Create(), tmp.Path);
        string md = File.ReadAllText(Path.Combine(tmp.Path, MarkdownReport.FileName));
        Assert.Equal(ReportCharts.Stems.Count, charts.Count);
        foreach (RenderedChart c in charts)
        {
            Assert.Contains($"]({c.PngFile})", md);
            Assert.Contains($"]({c.SvgFile})", md);
            Assert.True(File.Exists(Path.Combine(tmp.Path, c.PngFile)));
            Assert.True(File.Exists(Path.Combine(tmp.Path, c.SvgFile)));
        }
    }

    [Fact]
    public void TheSummaryHasNdrPdrLatencyAndCpuPerConfigurationWithIntervals()
    {
        Report r = SampleData.Create();
        string md = MarkdownReport.Build(r, []);
        Assert.Contains("| Configuration | NDR Mpps | PDR Mpps |", md);
        Assert.Contains("p99 µs at 90 % PDR", md);
        Assert.Contains("Back-end CPU ns/frame at 50 % PDR", md);
        // One summary row per configuration; busy's NDR is 10 × the wobble, its median over
        // the five unflagged rounds 10, its interval min–max (0.97–1.03 × 10).
        Assert.Contains("| busy / busy, 64 B | 10.0 (9.70–10.3) |", md);
        Assert.Contains("min–max of 5 rounds, coverage 93.8 %", md);
    }

    [Fact]
    public void AMillisecondP99IsShownBesideHowLongThePollingThreadsWerePreempted()
    {
        Report r = SampleData.Create();
        Assert.DoesNotContain("**p99 in milliseconds:**", MarkdownReport.Build(r, []));
        foreach (RoundSample s in r.Samples.Where(x => x.ConfigId == "busy-64"))
        {
            s.Values[Metrics.At(Metrics.P99Us, 10)] = 2500;
            s.Values[Metrics.At(Metrics.LoadgenWaitPct, 10)] = 1.5;
            s.Values[Metrics.At(Metrics.BackendWaitPct, 10)] = 0.75;
        }
        string md = MarkdownReport.Build(r, []);
        Assert.Contains("**p99 in milliseconds:** busy / busy, 64 B at 10 % of PDR (p99 2500 µs; preempted 1.50 % load gen, 0.75 % back-end)", md);
        Assert.Contains("| Preempted %, load gen | Preempted %, back-end |", md);
    }

    /// <summary>Issue 17: interrupt is the reference and the report states its ceiling, one
    /// ring per wake-up round trip; the strategies' decisions get their own table.</summary>
    [Fact]
    public void TheReportStatesInterruptsCeilingAndTheStrategiesDecisions()
    {
        Report r = SampleData.Create();
        string md = MarkdownReport.Build(r, []);
        // interrupt-64: p50 at one frame in flight 15 µs, PDR 3.6 × the median wobble (1.00).
        Assert.Contains("**Ceiling of interrupt / interrupt, 64 B:** one ring per wake-up round trip, 256 frames ÷ 15.0 µs (p50 at one frame in flight) = 17.1 Mpps; its PDR is 3.60 Mpps, 0.21 of it.", md);
        Assert.DoesNotContain("Ceiling of busy", md);
        Assert.DoesNotContain("| Back-end sleeps/frame |", md); // no decisions in the sample yet
        foreach (RoundSample s in r.Samples.Where(x => x.ConfigId == "hybrid-64"))
        {
            s.Values[Metrics.At(Metrics.BackendSleepsPerFrame, 10)] = 0.05;
            s.Values[Metrics.At(Metrics.BackendBudgetUs, 10)] = 50;
        }
        md = MarkdownReport.Build(r, []);
        Assert.Contains("| Back-end sleeps/frame |", md);
        Assert.Contains("| hybrid / hybrid, 64 B | 10 % of PDR | 0.050 (0.050–0.050) |", md);
        Assert.DoesNotContain("| busy / busy, 64 B | 10 % of PDR | –", md);
    }

    /// <summary>Issue 17: the bench's own report shows the hybrid strategy's goals, each per
    /// round against busy (the same-rate ones against busy measured at hybrid's offered rate).</summary>
    [Fact]
    public void TheReportShowsTheHybridStrategysGoals()
    {
        string md = MarkdownReport.Build(SampleData.Create(), []);
        Assert.Contains("## The hybrid strategy's goals", md);
        // PDR 11 against 12 every round; CPU at 10 %: 15 % against busy's 100 % at the same rate.
        Assert.Contains("| hybrid/hybrid: PDR ÷ busy's | pdr_mpps: hybrid-64 ÷ busy-64 | 0.92 |", md);
        Assert.Contains("| hybrid/hybrid at 10 %: back-end CPU ÷ busy's at its rate | be_cpu_pct@10: hybrid-64 ÷ its reference at the same offered rate | 0.15 |", md);
        Assert.Contains("| hybrid/hybrid, one frame in flight: p50 ÷ busy's | p50_us@0: hybrid-64 ÷ busy-64 | 4.50 |", md);
        Assert.Contains("8 goals, 4 not met.", md);
        Assert.DoesNotContain("interrupt/interrupt: PDR", md); // only hybrid back-ends have these goals
    }

    [Fact]
    public void ALoadPointARoundDidNotCarryIsNamedWithTheP99OfTheRoundsThatDid()
    {
        Report r = SampleData.Create();
        Assert.DoesNotContain("**Load points not carried**", MarkdownReport.Build(r, []));
        RoundSample one = r.Samples.Single(x => x.ConfigId == "busy-64" && x.Round == 1);
        one.Values[Metrics.At(Metrics.Loss, 50)] = 0.3;
        one.Values[Metrics.At(Metrics.P99Us, 50)] = 80_000;
        string md = MarkdownReport.Build(r, []);
        Assert.Contains("**Load points not carried**", md);
        Assert.Contains("- busy / busy, 64 B at 50 % of PDR: not carried in round 1 (loss 30.0 %); p99 over the 4 rounds that carried it:", md);
        // A flagged round (4) is not counted either way.
        RoundSample four = r.Samples.Single(x => x.ConfigId == "busy-64" && x.Round == 4);
        four.Values[Metrics.At(Metrics.Loss, 90)] = 0.5;
        Assert.DoesNotContain("at 90 % of PDR: not carried", MarkdownReport.Build(r, []));
    }

    [Fact]
    public void ScheduleStatisticsGiveTheRunQueueWait()
    {
        Assert.Equal(2_000_000, RunQueueWait.Parse("123456789 2000000 42\n"));
        Assert.Equal(-1, RunQueueWait.Parse("garbage"));
        Assert.True(RunQueueWait.OfCurrentThread() >= 0);
        Assert.Equal(-1, RunQueueWait.OfThread(Environment.ProcessId, int.MaxValue));
        Assert.True(RunQueueWait.OfProcess(Environment.ProcessId) >= 0);
    }

    [Fact]
    public void FlagsTheRoundOfAnotherPlacementAndLeavesItOut()
    {
        string md = MarkdownReport.Build(SampleData.Create(), []);
        Assert.Contains("round 4 flagged", md);
        Assert.Contains("| 4 | 03:08:05 | 330 | far |", md);
        Assert.Contains("**flagged: left out**", md);
    }

    [Fact]
    public void RatiosInsideTheNoiseAreNoSignificantDifference()
    {
        string md = MarkdownReport.Build(SampleData.Create(), []);
        string interrupt = md.Split('\n').First(l => l.StartsWith("| interrupt / interrupt, 64 B | busy / busy", StringComparison.Ordinal));
        string hybrid = md.Split('\n').First(l => l.StartsWith("| hybrid / hybrid, 64 B | busy / busy", StringComparison.Ordinal));
        Assert.Contains("**×0.30** (0.30–0.30)", interrupt); // PDR: lower every round
        Assert.Contains("no significant difference (×1.02, 0.96–1.04)", hybrid); // NDR: inside the noise
    }

    [Fact]
    public void SaysSharedVmOnlyWhenTheFactsSaySo()
    {
        Report r = SampleData.Create();
        Assert.Contains("This is a shared 2-vCPU VM", MarkdownReport.Build(r, []));
        r.Run.Set(RunInfo.StealPct, "0.0");
        string md = MarkdownReport.Build(r, []);
        Assert.DoesNotContain("shared 2-vCPU", md);
        Assert.Contains("This is a 2-vCPU VM (KVM)", md);
        r.Run[RunInfo.Hypervisor] = null;
        Assert.DoesNotContain("-vCPU VM", MarkdownReport.Build(r, []));
    }

    [Fact]
    public void RenderingAgainFromTheCsvsGivesTheSameReport()
    {
        using var tmp = new TempDir();
        ReportFolder.Write(SampleData.Create(), tmp.Path);
        string first = File.ReadAllText(Path.Combine(tmp.Path, MarkdownReport.FileName));
        File.Delete(Path.Combine(tmp.Path, MarkdownReport.FileName));
        File.Delete(Path.Combine(tmp.Path, ThroughputChart.MppsStem + ".png"));
        Assert.Equal(0, PerfLab.Reports.Cli.Program.Main(["render", tmp.Path]));
        Assert.Equal(first, File.ReadAllText(Path.Combine(tmp.Path, MarkdownReport.FileName)));
        Assert.True(File.Exists(Path.Combine(tmp.Path, ThroughputChart.MppsStem + ".png")));
    }

    [Fact]
    public void CliRejectsAFolderThatIsNotAReport()
    {
        using var tmp = new TempDir();
        Assert.NotEqual(0, PerfLab.Reports.Cli.Program.Main(["render", tmp.Path]));
        Assert.Equal(2, PerfLab.Reports.Cli.Program.Main(["draw", tmp.Path]));
    }

    [Fact]
    public void LatestPointsAtTheNewestFolder()
    {
        using var tmp = new TempDir();
        string a = ReportFolder.CreateDated(tmp.Path, new DateTime(2026, 1, 2, 3, 4, 5));
        string b = ReportFolder.CreateDated(tmp.Path, new DateTime(2026, 1, 2, 3, 4, 6));
        File.WriteAllText(Path.Combine(b, "marker"), "b");
        ReportFolder.UpdateLatest(tmp.Path, a);
        ReportFolder.UpdateLatest(tmp.Path, b);
        Assert.Equal("b", File.ReadAllText(Path.Combine(tmp.Path, ReportFolder.Latest, "marker")));
        Assert.Equal("2026-01-02_03-04-06", Path.GetFileName(b));
    }
}

public sealed class SummariesTests
{
    [Fact]
    public void SameRateRatiosUseTheReferenceMeasuredAtThisConfigurationsRate()
    {
        Report r = SampleData.Create();
        ConfigInfo interrupt = r.Config("interrupt-64")!;
        string p99 = Metrics.At(Metrics.P99Us, 50);
        PairedRatio same = Summaries.VsReferenceSameRate(r, interrupt, p99)!.Value;
        // interrupt's p99 at 50 %: 30 × 2.25 × 1.5 = 101.25 µs; the reference at that rate: 2.5 × 1.5 = 3.75 µs.
        Assert.Equal(27, same.Ratio.Median, 6);
        Assert.Equal(RatioVerdict.Higher, same.Verdict);
        Assert.Null(Summaries.VsReference(r, r.Config("busy-1500")!, p99));
    }
}

using System.Buffers.Binary;
using PerfLab.Reports;
using PerfLab.Reports.Charts;
using PerfLab.Reports.Csv;
using PerfLab.Reports.Markdown;
using PerfLab.Reports.Model;
using PerfLab.Tests.Infrastructure;
using Xunit;

namespace PerfLab.Tests.Reports;

public sealed class ChartTests
{
    public static TheoryData<string> Charts => new() { ThroughputChart.Stem, LatencySpectrumChart.Stem, LoadCharts.LatencyStem, LoadCharts.CpuStem };

    private static RenderedChart RenderOne(string stem, Report report, string dir) => stem switch
    {
        ThroughputChart.Stem => ThroughputChart.Render(report, dir),
        LatencySpectrumChart.Stem => LatencySpectrumChart.Render(report, dir),
        LoadCharts.LatencyStem => LoadCharts.RenderLatency(report, dir),
        _ => LoadCharts.RenderCpu(report, dir),
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
    public void RendersPngOfTheExpectedSizeAndSvgFromFixedData(string stem)
    {
        using var tmp = new TempDir();
        RenderedChart c = RenderOne(stem, SampleData.Create(), tmp.Path);
        Assert.True(c.HasData);
        Assert.Equal(stem + ".png", c.PngFile);
        Assert.True(new FileInfo(c.PngPath).Length > 5_000, "PNG suspiciously small");
        Assert.Equal((ChartKit.Width, ChartKit.Height), PngSize(c.PngPath));
        string svg = File.ReadAllText(c.SvgPath);
        Assert.Contains("<svg", svg);
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
        a.Configs[0].BackendCpuPct = double.NaN;
        ReportCsv.Write(a, tmp.Path);
        Report b = ReportCsv.Read(tmp.Path);

        Assert.Equal(a.Run.Facts.Select(f => (f.Key, f.Value)), b.Run.Facts.Select(f => (f.Key, f.Value)));
        Assert.Equal(a.Configs.Count, b.Configs.Count);
        foreach (var p in typeof(ConfigResult).GetProperties().Where(p => p.CanWrite))
        {
            for (int i = 0; i < a.Configs.Count; i++)
            {
                Assert.True(Equals(p.GetValue(a.Configs[i]), p.GetValue(b.Configs[i])), $"{p.Name} of row {i}: {p.GetValue(a.Configs[i])} != {p.GetValue(b.Configs[i])}");
            }
        }
        Assert.True(double.IsNaN(b.Configs[0].BackendCpuPct));
        Assert.Equal(a.Percentiles.Select(p => (p.ConfigId, p.Percentile, p.LatencyNs, p.CountAtOrBelow)), b.Percentiles.Select(p => (p.ConfigId, p.Percentile, p.LatencyNs, p.CountAtOrBelow)));
        Assert.Equal(a.Iterations.Select(i => (i.ConfigId, i.Iteration, i.NsPerFrame, i.P99Ns)), b.Iterations.Select(i => (i.ConfigId, i.Iteration, i.NsPerFrame, i.P99Ns)));
        Assert.Equal(a.Micro.Single().Description, b.Micro.Single().Description);
    }

    [Fact]
    public void ReadingAFolderWithoutReportFilesFailsClearly()
    {
        using var tmp = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => ReportCsv.Read(tmp.Path));
        Assert.Contains("not a report folder", e.Message);
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
        Assert.Equal(4, charts.Count);
        foreach (RenderedChart c in charts)
        {
            Assert.Contains($"]({c.PngFile})", md);
            Assert.Contains($"]({c.SvgFile})", md);
            Assert.True(File.Exists(Path.Combine(tmp.Path, c.PngFile)));
            Assert.True(File.Exists(Path.Combine(tmp.Path, c.SvgFile)));
        }
    }

    [Fact]
    public void StatesTheMachineTheCacheLineRoundTripAndTheBaseline()
    {
        Report r = SampleData.Create();
        string md = MarkdownReport.Build(r, []);
        Assert.Contains("Test CPU \\| with a pipe", md);
        Assert.Contains("| 55 ns | 230 ns |", md);
        Assert.Contains("It changed during this run", md);
        Assert.Contains("DPDK testpmd", md);
        Assert.Contains("## How to read this", md);
        // One summary row per configuration, each with its ratio to the baseline.
        Assert.Equal(r.Configs.Count, md.Split('\n').Count(l => l.StartsWith("| busy / busy", StringComparison.Ordinal) || l.StartsWith("| hybrid", StringComparison.Ordinal) || l.StartsWith("| interrupt", StringComparison.Ordinal) || l.StartsWith("| DPDK", StringComparison.Ordinal)));
        Assert.Contains("baseline |", md);
    }

    [Fact]
    public void WarnsWhenBusyPollingProcessesDidNotGetTheirCore()
    {
        Report r = SampleData.Create();
        Assert.DoesNotContain("the machine was busy", MarkdownReport.Build(r, []));
        r.Configs.First(c => c.BackendPoll == "busy").BackendCpuPct = 40;
        Assert.Contains("the machine was busy", MarkdownReport.Build(r, []));
    }

    [Fact]
    public void RenderingAgainFromTheCsvsGivesTheSameReport()
    {
        using var tmp = new TempDir();
        ReportFolder.Write(SampleData.Create(), tmp.Path);
        string first = File.ReadAllText(Path.Combine(tmp.Path, MarkdownReport.FileName));
        File.Delete(Path.Combine(tmp.Path, MarkdownReport.FileName));
        File.Delete(Path.Combine(tmp.Path, ThroughputChart.Stem + ".png"));
        Assert.Equal(0, PerfLab.Reports.Cli.Program.Main(["render", tmp.Path]));
        Assert.Equal(first, File.ReadAllText(Path.Combine(tmp.Path, MarkdownReport.FileName)));
        Assert.True(File.Exists(Path.Combine(tmp.Path, ThroughputChart.Stem + ".png")));
    }

    [Fact]
    public void CliRejectsAFolderThatIsNotAReport()
    {
        using var tmp = new TempDir();
        Assert.Equal(1, PerfLab.Reports.Cli.Program.Main(["render", tmp.Path]));
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

public sealed class ViewsTests
{
    [Fact]
    public void BaselineIsDpdkWhenTheRunHasItAndBusyPollOtherwise()
    {
        Report with = SampleData.Create(withDpdk: true);
        ConfigResult hybrid64 = with.Configs.First(r => r.BackendPoll == "hybrid" && r.FrameSize == 64 && r.Unthrottled);
        Assert.Equal(PeerNames.Dpdk, Views.BaselineOf(hybrid64, with.Configs)!.Peer);

        Report without = SampleData.Create(withDpdk: false);
        hybrid64 = without.Configs.First(r => r.BackendPoll == "hybrid" && r.FrameSize == 64 && r.Unthrottled);
        ConfigResult b = Views.BaselineOf(hybrid64, without.Configs)!;
        Assert.Equal(("perflab", "busy", "busy", 64, 100), (b.Peer, b.BackendPoll, b.GuestPoll, b.FrameSize, b.LoadPct));
    }

    [Fact]
    public void HeadlinesAreTheMostCommonRingAndTheSweptFrameSize()
    {
        Report r = SampleData.Create();
        Assert.Equal((256, 32), Views.HeadlineRing(r.Configs));
        Assert.Equal(64, Views.HeadlineFrameSize(r.Configs));
        // At 50 % interrupt (1.6 Mpps at most) falls behind the offered 6 Mpps; at 10 % all keep up.
        Assert.Equal(10, Views.SpectrumLoad(r.Configs));
        Assert.Equal(50, Views.SpectrumLoad(r.Configs.Where(c => c.BackendPoll != "interrupt").ToList()));
    }
}

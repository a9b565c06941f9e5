using System.Net.Sockets;
using System.Text;
using PerfLab.Reports.Journal;
using PerfLab.Reports.Markdown;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Diagnostics;
using Xunit;

namespace PerfLab.Tests.Reports;

/// <summary>The scripts' path to the bench's statistics: record figures into a journal, then
/// summarize with the same medians, intervals, per-round ratios and c2c flags.</summary>
public sealed class JournalTests
{
    [Fact]
    public void RecordedRoundsSummarizeWithPerRoundRatiosAndFlags()
    {
        using var tmp = new TempDir();
        string j = tmp.File("journal.csv");
        double[] c2c = [55, 57, 340, 56, 58, 54];
        for (int r = 1; r <= 6; r++)
        {
            RoundJournal.Append(j, [new JournalEntry(r, "", RoundJournal.C2cMetric, c2c[r - 1])]);
            double level = r == 3 ? 0.3 : 1 + r / 10.0; // the host moves; round 3 is far
            RoundJournal.Append(j, [new JournalEntry(r, "c-ring", Metrics.Mpps, 40 * level), new JournalEntry(r, "c-ring", "be_busy_ns_frame", 10)]);
            RoundJournal.Append(j, [new JournalEntry(r, "cs-copy", Metrics.Mpps, 20 * level), new JournalEntry(r, "cs-copy", "be_busy_ns_frame", 12)]);
        }
        Report report = RoundJournal.ToReport(RoundJournal.Read(j), new Dictionary<string, string> { ["cs-copy"] = "c-ring" });
        Assert.True(report.Rounds.Single(x => x.Round == 3).Flagged);
        Assert.Equal(5, Summaries.UsedRounds(report).Count);
        PairedRatio p = Summaries.VsReference(report, report.Config("cs-copy")!, Metrics.Mpps)!.Value;
        Assert.Equal(0.5, p.Ratio.Median, 9);
        Assert.Equal(RatioVerdict.Lower, p.Verdict);

        string md = JournalMarkdown.Build(report, [Metrics.Mpps, "be_busy_ns_frame"], Metrics.Mpps);
        Assert.Contains("| 3 (flagged: other c2c class, left out) | 340 |", md);
        Assert.Contains("| cs-copy ÷ c-ring | **×0.50** (0.50–0.50) | **×1.20** (1.20–1.20) |", md);
    }

    [Fact]
    public void SummarizeGivesEveryRefPairOfAConfiguration()
    {
        // copy against the C ring and against its own old setting: both ratios, not one.
        using var tmp = new TempDir();
        string j = tmp.File("journal.csv");
        for (int r = 1; r <= 5; r++)
        {
            RoundJournal.Append(j, [
                new JournalEntry(r, "", RoundJournal.C2cMetric, 55),
                new JournalEntry(r, "copy", Metrics.Mpps, 20 + r),
                new JournalEntry(r, "cring", Metrics.Mpps, 2 * (20 + r)),
                new JournalEntry(r, "copy-rotate", Metrics.Mpps, (20 + r) / 1.25),
            ]);
        }
        string outDir = Path.Combine(tmp.Path, "out");
        string md = CaptureSummarize(j, "--metric", Metrics.Mpps, "--ref", "copy=cring", "--ref", "copy=copy-rotate", "--ref", "copy=cring", "--out", outDir);
        Assert.Contains("| copy ÷ cring | **×0.50** (0.50–0.50) |", md);
        Assert.Contains("| copy ÷ copy-rotate | **×1.25** (1.25–1.25) |", md);
        Assert.Single(md.Split('\n'), l => l.StartsWith("| copy ÷ cring", StringComparison.Ordinal)); // a repeated pair once
        Assert.Contains("first --ref only", md);
        Assert.True(File.Exists(Path.Combine(outDir, MarkdownReport.FileName)));

        // --reference still covers the configurations without a --ref of their own.
        md = CaptureSummarize(j, "--metric", Metrics.Mpps, "--reference", "cring", "--ref", "copy=copy-rotate");
        Assert.Contains("| copy ÷ copy-rotate |", md);
        Assert.Contains("| copy-rotate ÷ cring |", md);
        Assert.DoesNotContain("| copy ÷ cring |", md);
    }

    private static string CaptureSummarize(string journal, params string[] args) => CaptureCli(["summarize", journal, .. args]);

    private static string CaptureCli(string[] args)
    {
        var stdout = Console.Out;
        var sw = new StringWriter();
        Console.SetOut(sw);
        try
        {
            Assert.Equal(0, PerfLab.Reports.Cli.Program.Main(args));
        }
        finally
        {
            Console.SetOut(stdout);
        }
        return sw.ToString();
    }

    /// <summary>compare-dpdk reads frames and busy time from one snapshot at each end of its
    /// window, for PerfLab's busy ns per frame beside the Mpps.</summary>
    [Fact]
    public void BackendPacketsPrintsTheWorkersBusyTimeToo()
    {
        using var tmp = new TempDir();
        string path = tmp.File("stats.sock");
        var stats = new BackendStats
        {
            Queues = [new QueueStats { Direction = "tx", Packets = 1000 }, new QueueStats { Direction = "rx", Packets = 7 }, new QueueStats { Direction = "tx", Packets = 500 }],
            Workers = [new WorkerStats { Id = 0, BusyNs = 40_000 }, new WorkerStats { Id = 1, BusyNs = 2_000 }],
        };
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(2);
        var server = new Thread(() =>
        {
            // One snapshot per connection, as the back-end serves it.
            for (int i = 0; i < 2; i++)
            {
                using Socket c = listener.Accept();
                c.Send(Encoding.UTF8.GetBytes(stats.ToJson()));
                c.Shutdown(SocketShutdown.Both);
            }
        }) { IsBackground = true };
        server.Start();
        string plain = "", busy = "";
        Timeouts.Run(Timeouts.Short, () =>
        {
            plain = CaptureCli(["backend-packets", path]);
            busy = CaptureCli(["backend-packets", path, "--busy-ns"]);
        }, "backend-packets");
        Assert.Equal("1500", plain.Trim());
        Assert.Equal("1500 42000", busy.Trim());
    }

    [Fact]
    public void LoadGeneratorJsonBecomesNamedFigures()
    {
        const string Json = """{"mpps": 12.5, "received": 990, "lost": 10, "latency_ns": {"p50": 1500, "p99": 4000, "p999": 9000}, "backend_cpu_pct": 99.5, "backend_cpu_ns_per_packet": 80.1, "backend_busy_ns_per_packet": 40.2, "backend_packets": 1000, "backend_calls": 20, "backend_wakeups": 5, "kicks_per_packet": 0.01}""";
        var m = LoadGenJson.Metrics(Json);
        Assert.Equal(12.5, m[Metrics.Mpps]);
        Assert.Equal(4.0, m[Metrics.P99Us]);
        Assert.Equal(99.5, m[Metrics.BackendCpuPct]);
        Assert.Equal(40.2, m["be_busy_ns_frame"]);
        Assert.Equal(0.02, m["be_calls_frame"], 9);
        Assert.Equal(0.01, m[Metrics.Loss], 9);
    }

    [Fact]
    public void CliVerdictsOnBadInputExit2()
    {
        using var tmp = new TempDir();
        Assert.Equal(2, PerfLab.Reports.Cli.Program.Main(["record", tmp.File("j.csv"), "--round", "1", "--set", "x=1"])); // no --config
        Assert.Equal(2, PerfLab.Reports.Cli.Program.Main(["record", tmp.File("j.csv"), "--round", "1", "--config", "a", "--set", "x=one"]));
        Assert.Equal(2, PerfLab.Reports.Cli.Program.Main(["summarize", tmp.File("missing.csv")]));
        Assert.Equal(2, PerfLab.Reports.Cli.Program.Main(["order", "--round", "0", "a", "b"]));
        Assert.Equal(0, PerfLab.Reports.Cli.Program.Main(["record", tmp.File("j.csv"), "--round", "1", "--config", "a", "--set", "x=1"]));
        Assert.Equal(2, PerfLab.Reports.Cli.Program.Main(["summarize", tmp.File("j.csv"), "--reference", "nope"]));
    }
}

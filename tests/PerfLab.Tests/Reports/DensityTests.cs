using PerfLab.Reports.Density;
using PerfLab.Reports.Journal;
using PerfLab.Reports.Model;
using PerfLab.Tests.Infrastructure;
using Xunit;

namespace PerfLab.Tests.Reports;

/// <summary>The density benchmark's statistics (scripts/density → perflab-report density): a
/// trial's JSON as figures, which device counts hold, and the files it writes.</summary>
public sealed class DensityTests
{
    private const string TrialJson = """
        {"intended_pps":1000000,"intended_duration_s":1,"burst":32,"window_s":0.5,"interval_s":0.52,"offered":500000,"sent":495000,
         "tx_dropped":5000,"generator_shortfall":0,"received":490000,"lost":10000,"loss_ratio":0.02,"errors":0,"backend_dropped":5000,
         "kicks":1000,"calls_received":2000,"loadgen_cpu_ns":260000000,"backend_cpu_ns":245000000,"backend_interval_ns":490000000,
         "backend_calls":2000,"backend_wakeups":980,"latency_ns":{"count":490000,"p50":12000,"p90":30000,"p99":80000,"p999":90000,"max":99000},
         "devices":[{"intended_pps":500000},{"intended_pps":500000}]}
        """;

    [Fact]
    public void ATrialsJsonBecomesDeliveredRateLossLatencyAndCpuPerFrame()
    {
        var m = LoadGenJson.Metrics(TrialJson);
        Assert.Equal(0.98, m[Metrics.Mpps], 9);
        Assert.Equal(1.0, m[Metrics.OfferedMpps], 9);
        Assert.Equal(0.02, m[Metrics.Loss], 9);
        Assert.Equal(0.01, m["tx_dropped_ratio"], 9);
        Assert.Equal(80.0, m[Metrics.P99Us], 9);
        Assert.Equal(50.0, m[Metrics.BackendCpuPct], 9);
        Assert.Equal(500.0, m[Metrics.BackendNsPerFrame], 9);
        Assert.Equal(0.002, m["be_wakeups_frame"], 9);
        Assert.Equal(2, m["devices"]);
    }

    [Fact]
    public void TheLargestHoldingCountNeedsTheLoadCarriedAndP99UnderTheLimit()
    {
        using var tmp = new TempDir();
        string j = tmp.File("journal.csv");
        // busy holds everywhere; interrupt's p99 passes the limit at 16; backoff loses at 4 but holds at 16.
        var cells = new (string Id, double P99, double Loss)[]
        {
            ("busy@1", 20, 0), ("busy@4", 25, 0), ("busy@16", 40, 0.001),
            ("interrupt@1", 60, 0), ("interrupt@4", 90, 0), ("interrupt@16", 300, 0),
            ("backoff@1", 50, 0), ("backoff@4", 50, 0.2), ("backoff@16", 70, 0),
        };
        for (int r = 1; r <= 5; r++)
        {
            RoundJournal.Append(j, [new JournalEntry(r, "", RoundJournal.C2cMetric, 60 + r)]);
            foreach (var (id, p99, loss) in cells)
            {
                RoundJournal.Append(j, [new(r, id, Metrics.P99Us, p99 * (1 + r / 100.0)), new(r, id, Metrics.Loss, loss), new(r, id, Metrics.Mpps, 1 - loss),
                    new(r, id, Metrics.OfferedMpps, 1), new(r, id, Metrics.BackendCpuPct, 30), new(r, id, DensityTable.IdleCpuPct, id.StartsWith("busy", StringComparison.Ordinal) ? 100 : 0.5)]);
            }
        }
        var t = DensityTable.From(RoundJournal.ToReport(RoundJournal.Read(j), new Dictionary<string, string>()));
        Assert.Equal(["busy", "interrupt", "backoff"], t.Strategies);
        Assert.Equal([1, 4, 16], t.Counts);
        Assert.Equal(16, t.LargestHolding("busy"));
        Assert.Equal(4, t.LargestHolding("interrupt"));
        Assert.Equal(16, t.LargestHolding("backoff"));
        Assert.Equal([4], t.FailingBelow("backoff"));
        Assert.Contains(t.Verdicts(), v => v.StartsWith("backoff: largest device count carrying 1 Mpps total", StringComparison.Ordinal) && v.EndsWith(": 16 (but not 4)", StringComparison.Ordinal));

        string dir = tmp.File("out");
        string md = DensityFiles.Write(t, dir);
        Assert.Contains("| interrupt | 16 |", md);
        string[] csv = File.ReadAllLines(Path.Combine(dir, DensityFiles.CsvFile));
        Assert.StartsWith("strategy,devices,rounds,carried,holds,offered_mpps,offered_mpps_low,offered_mpps_high,mpps,", csv[0]);
        Assert.Equal(1 + cells.Length, csv.Length);
        Assert.StartsWith("interrupt,16,5,1,0,", csv[6]);
        foreach (string f in new[] { "density-p99.png", "density-cpu.png" })
        {
            Assert.True(new FileInfo(Path.Combine(dir, f)).Length > 1000, f);
        }
    }

    [Fact]
    public void AJournalWithoutStrategyAtDevicesIsRefused()
    {
        using var tmp = new TempDir();
        string j = tmp.File("journal.csv");
        RoundJournal.Append(j, [new JournalEntry(1, "busy", Metrics.Mpps, 1)]);
        Assert.Equal(2, PerfLab.Reports.Cli.Program.Main(["density", j, "--out", tmp.File("out")]));
        Assert.Null(DensityTable.ParseId("busy@0"));
        Assert.Equal(("hybrid/busy", 8), DensityTable.ParseId("hybrid/busy@8"));
    }
}

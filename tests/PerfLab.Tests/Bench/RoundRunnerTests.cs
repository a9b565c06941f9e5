using HdrHistogram;
using PerfLab.Bench.Method;
using PerfLab.Bench.Method.Trials;
using PerfLab.Reports.Markdown;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;
using PerfLab.Vhost.Polling;
using Xunit;

namespace PerfLab.Tests.Bench;

/// <summary>A simulated device under test per configuration: no loss below its capacity,
/// everything above lost; latency grows with the load. Counts what it was asked.</summary>
public sealed class SimulatedTargetFactory : ITrialTargetFactory
{
    public Dictionary<string, double> CapacityPps { get; } = [];
    public List<string> Opened { get; } = [];
    public string? FailOnce { get; set; }

    public string? Unavailable(BenchConfiguration c) => c.NeedsDpdk ? "no DPDK in this test" : null;

    public ITrialTarget Open(BenchConfiguration c)
    {
        Opened.Add(c.Id);
        if (FailOnce == c.Id)
        {
            FailOnce = null;
            throw new IOException("simulated back-end did not start");
        }
        return new Target(CapacityPps.GetValueOrDefault(c.Id, 1e6));
    }

    private sealed class Target(double capacity) : ITrialTarget
    {
        public TrialOutcome Run(double ratePps, double durationS)
        {
            double rate = ratePps > 0 ? ratePps : capacity;
            long offered = (long)(rate * durationS);
            long received = (long)(Math.Min(rate, capacity) * durationS);
            var h = new LongHistogram(10_000_000_000, 3);
            h.RecordValue((long)(1000 + 10_000 * rate / capacity));
            return new TrialOutcome
            {
                IntendedPps = ratePps,
                DurationS = durationS,
                Offered = offered,
                Received = received,
                Latency = h,
                BackendCpuNs = 0.5e9 * durationS,
                BackendIntervalNs = 1e9 * durationS,
                LoadgenProcessCpuNs = 1e9 * durationS,
                LoadgenThreadCpuNs = 0.9e9 * durationS,
            };
        }

        public TrialOutcome PingPong(double durationS) => Run(1 / 5e-6, durationS);

        public void Dispose()
        {
        }
    }
}

public sealed class RoundRunnerTests
{
    private static readonly Profile Tiny = Profile.Smoke with { Rounds = 3, Width = 0.01 };

    private static List<BenchConfiguration> Configs() =>
    [
        new() { Id = "busy-64", Reference = "" },
        new() { Id = "interrupt-64", BackendPoll = PollMode.Interrupt, GuestPoll = PollMode.Interrupt, Reference = "busy-64" },
        new() { Id = "hybrid-64", BackendPoll = PollMode.Hybrid, GuestPoll = PollMode.Hybrid, Reference = "busy-64" },
    ];

    [Fact]
    public void EveryRoundVisitsEveryConfigurationOnceInARotatedOrder()
    {
        var factory = new SimulatedTargetFactory();
        double c2c = 50;
        var runner = new RoundRunner(Tiny, Configs(), factory, () => c2c += 5, _ => { });
        runner.Run();

        Assert.Equal(3, runner.Rounds.Count);
        Assert.Equal(["busy-64 interrupt-64 hybrid-64", "interrupt-64 hybrid-64 busy-64", "hybrid-64 busy-64 interrupt-64"], runner.Rounds.Select(r => r.Order));
        Assert.Equal([55.0, 60.0, 65.0], runner.Rounds.Select(r => r.C2cNs));
        // One sample per round and configuration, at its place in that round's order.
        Assert.Equal(9, runner.Samples.Count);
        foreach (var r in runner.Rounds)
        {
            var order = r.Order.Split(' ');
            var samples = runner.Samples.Where(s => s.Round == r.Round).ToList();
            Assert.Equal(order, samples.OrderBy(s => s.Position).Select(s => s.ConfigId));
        }
        // Two visits per configuration per round (search, then load points), searches first.
        Assert.Equal(18, factory.Opened.Count);
        Assert.Equal(["busy-64", "interrupt-64", "hybrid-64", "busy-64", "interrupt-64", "hybrid-64"], factory.Opened.Take(6));
    }

    [Fact]
    public void SearchesEachCapacityAndMeasuresTheReferenceAtItsDependentsRates()
    {
        var factory = new SimulatedTargetFactory();
        factory.CapacityPps["busy-64"] = 10e6;
        factory.CapacityPps["interrupt-64"] = 2e6;
        var runner = new RoundRunner(Tiny, Configs(), factory, () => double.NaN, _ => { });
        runner.Run();
        RoundSample busy = runner.Samples.First(s => s.ConfigId == "busy-64");
        RoundSample irq = runner.Samples.First(s => s.ConfigId == "interrupt-64");
        Assert.InRange(busy.Get(Metrics.NdrMpps), 10 * (1 - Tiny.Width), 10);
        Assert.InRange(irq.Get(Metrics.PdrMpps), 2 * (1 - 2 * Tiny.Width), 2);
        // interrupt's load points are fractions of its own PDR...
        Assert.Equal(irq.Get(Metrics.PdrMpps) * 0.5, irq.Get(Metrics.At(Metrics.OfferedMpps, 50)), 9);
        // ...and busy was measured at those very rates in the same round.
        Assert.Equal(irq.Get(Metrics.At(Metrics.OfferedMpps, 50)), irq.Get(Metrics.Ref(Metrics.At(Metrics.OfferedMpps, 50))), 9);
        Assert.True(irq.Get(Metrics.Ref(Metrics.At(Metrics.P99Us, 50))) < irq.Get(Metrics.At(Metrics.P99Us, 50)));
        Assert.Equal(50, busy.Get(Metrics.At(Metrics.BackendCpuPct, 10)), 6);
        Assert.Contains(runner.Percentiles, p => p.ConfigId == "interrupt-64" && p.Load == Views.SpectrumLoad);
        Assert.True(runner.Trials.Count(t => t.Kind == "search") >= 3 * 3 * 3);
    }

    [Fact]
    public void AVisitThatFailsIsRecordedAndTheRunGoesOn()
    {
        var factory = new SimulatedTargetFactory { FailOnce = "interrupt-64" };
        var runner = new RoundRunner(Tiny, Configs(), factory, () => double.NaN, _ => { });
        runner.Run();
        Assert.Single(runner.Problems);
        Assert.Contains("simulated back-end did not start", runner.Problems[0]);
        Assert.Equal(2, runner.Samples.Count(s => s.ConfigId == "interrupt-64" && s.Values.ContainsKey(Metrics.NdrMpps)));
        Assert.Equal(9, runner.Samples.Count);
    }

    /// <summary>
    /// A probe between visits that finds the other c2c class marks the visits on both sides of
    /// it as moved (round 2's probe after hybrid's search: hybrid's and busy's visits of that
    /// round), and only those: the medians and the per-round ratios leave them out, the rest
    /// of their round stays in.
    /// </summary>
    [Fact]
    public void AVisitNextToAProbeOfTheOtherClassIsLeftOut()
    {
        var factory = new SimulatedTargetFactory();
        int probes = 0;
        // Per round: one probe before the first visit, one after each of the 3 + 3 visits.
        var runner = new RoundRunner(Tiny, Configs(), factory, () => 55, _ => { }, () => probes++ == 7 + 2 ? 320 : 60);
        runner.Run();
        Assert.Equal(3 * 7, probes);
        var report = new Report();
        report.Rounds.AddRange(runner.Rounds);
        report.Samples.AddRange(runner.Samples);
        report.Configs.AddRange(Configs().Select(c => c.ToInfo()));
        var moved = Summaries.MovedSamples(report).Select(s => (s.ConfigId, s.Round)).ToHashSet();
        Assert.Equal([("hybrid-64", 2), ("busy-64", 2)], moved.OrderBy(m => m.ConfigId == "busy-64" ? 1 : 0));
        RoundSample hybrid2 = runner.Samples.Single(s => s.ConfigId == "hybrid-64" && s.Round == 2);
        Assert.Equal((60.0, 320.0), (hybrid2.Get(Metrics.VisitC2cMinNs), hybrid2.Get(Metrics.VisitC2cMaxNs)));
        Assert.Equal([1, 3], Summaries.ByRound(report, "hybrid-64", Metrics.PdrMpps).Keys.Order());
        Assert.Equal([1, 2, 3], Summaries.ByRound(report, "interrupt-64", Metrics.PdrMpps).Keys.Order());
        // interrupt's ratio to busy pairs only the rounds where both stayed put.
        PairedRatio? ratio = Summaries.VsReference(report, report.Config("interrupt-64")!, Metrics.PdrMpps);
        Assert.Equal(2, ratio!.Value.Ratio.N);
        string md = MarkdownReport.Build(report, []);
        Assert.Contains("These 2 visits saw another class than the run's (near)", md);
        Assert.Contains("round 2 (60–320 ns)", md);
        Assert.DoesNotContain("This run cannot rank", md); // 2 of 9 visits moved

        // Every probe far in a near run: every visit moved, and the summary says the run is not usable.
        var shaky = new RoundRunner(Tiny, Configs(), new SimulatedTargetFactory(), () => 55, _ => { }, () => 320);
        shaky.Run();
        var bad = new Report();
        bad.Rounds.AddRange(shaky.Rounds);
        bad.Samples.AddRange(shaky.Samples);
        bad.Configs.AddRange(Configs().Select(c => c.ToInfo()));
        Assert.Contains("**The host moved the vCPUs during 9 of the 9 visits of the rounds used**", MarkdownReport.Build(bad, []));
    }

    /// <summary>
    /// The host moves the vCPUs during the first two rounds (every probe far in a near run):
    /// no visit of theirs is kept, so the runner adds rounds past the planned three until every
    /// configuration has the wanted three rounds kept with its reference, then stops.
    /// </summary>
    [Fact]
    public void RoundsAreAddedWhileTheHostsMovesLeaveTooFewKept()
    {
        var p = Tiny with { Rounds = 3, MaxRounds = 8, KeptRoundsWanted = 3 };
        int probes = 0;
        var log = new List<string>();
        // 7 probes a round: rounds 1 and 2 far.
        var runner = new RoundRunner(p, Configs(), new SimulatedTargetFactory(), () => 55, log.Add, () => probes++ < 14 ? 320 : 60);
        runner.Run();
        Assert.Equal(5, runner.Rounds.Count);
        Assert.Equal(2, runner.Extensions.Count);
        Assert.Equal("busy-64: 1 of 3 rounds kept", runner.Extensions[0]);
        Assert.Contains(log, l => l.StartsWith("round 4: added, up to 8", StringComparison.Ordinal));
        Assert.Null(Summaries.ShortOfKept(runner.Rounds, runner.Samples, Configs().Select(c => (c.Id, c.Reference)), 3));

        // The report judges with the same rule, at its own 5 rounds: 3 kept is too few.
        Assert.Contains("This run cannot rank every configuration (busy-64: 3 of 5 rounds kept)", MarkdownReport.Build(AsReport(runner), []));

        // Three moved rounds, then five kept: over a third of the visits moved, but every
        // configuration kept the five rounds its ratios need, and the report says so.
        probes = 0;
        var enough = new RoundRunner(p with { MaxRounds = 12, KeptRoundsWanted = 5 }, Configs(), new SimulatedTargetFactory(), () => 55, _ => { }, () => probes++ < 21 ? 320 : 60);
        enough.Run();
        Assert.Equal(8, enough.Rounds.Count);
        string md = MarkdownReport.Build(AsReport(enough), []);
        Assert.Contains("**The host moved the vCPUs during 9 of the 24 visits of the rounds used**", md);
        Assert.Contains("Every configuration still kept at least 5 rounds", md);
        Assert.DoesNotContain("cannot rank", md);

        // At the maximum the runner stops whatever is kept; without a maximum it never adds.
        var capped = new RoundRunner(p with { MaxRounds = 4 }, Configs(), new SimulatedTargetFactory(), () => 55, _ => { }, () => 320);
        capped.Run();
        Assert.Equal(4, capped.Rounds.Count);
        var fixedRuns = new RoundRunner(p with { MaxRounds = 0 }, Configs(), new SimulatedTargetFactory(), () => 55, _ => { }, () => 320);
        fixedRuns.Run();
        Assert.Equal(3, fixedRuns.Rounds.Count);
    }

    private static Report AsReport(RoundRunner runner)
    {
        var report = new Report();
        report.Rounds.AddRange(runner.Rounds);
        report.Samples.AddRange(runner.Samples);
        report.Configs.AddRange(Configs().Select(c => c.ToInfo()));
        Summaries.FlagRounds(report.Rounds);
        return report;
    }

    /// <summary>The rule counts what the report keeps: a flagged round (another c2c class than
    /// most) does not count, nor a round where only one of the pair was kept; a configuration
    /// that never found a PDR does not hold the run.</summary>
    [Fact]
    public void TheExtensionRuleCountsOnlyRoundsTheReportKeeps()
    {
        var rounds = new List<RoundInfo>();
        var samples = new List<RoundSample>();
        double[] c2c = [55, 330, 60, 58];
        for (int r = 1; r <= 4; r++)
        {
            rounds.Add(new RoundInfo { Round = r, C2cNs = c2c[r - 1], C2cClass = C2cClass.Of(c2c[r - 1]) });
            foreach (string id in (string[])["busy-64", "hybrid-64", "broken-64"])
            {
                var s = new RoundSample { Round = r, ConfigId = id };
                if (id != "broken-64")
                {
                    s.Values[Metrics.PdrMpps] = 10;
                }
                // hybrid's visit of round 4 moved.
                s.Values[Metrics.VisitC2cMinNs] = 55;
                s.Values[Metrics.VisitC2cMaxNs] = id == "hybrid-64" && r == 4 ? 330 : 60;
                samples.Add(s);
            }
        }
        (string, string)[] configs = [("busy-64", ""), ("hybrid-64", "busy-64"), ("broken-64", "busy-64")];
        // busy: rounds 1, 3, 4 (round 2 is far); hybrid with busy: 1 and 3.
        Assert.Null(Summaries.ShortOfKept(rounds, samples, configs, 2));
        Assert.Equal("hybrid-64 ÷ busy-64: 2 of 3 rounds kept", Summaries.ShortOfKept(rounds, samples, configs, 3));
        Assert.Equal("busy-64: 3 of 4 rounds kept", Summaries.ShortOfKept(rounds, samples, configs, 4));
    }

    [Theory]
    [InlineData(double.NaN, double.NaN, "near", false)] // no probes (older runs)
    [InlineData(55, 140, "near", false)]
    [InlineData(55, 160, "near", true)]                // mid counts as another class
    [InlineData(300, 340, "far", false)]
    [InlineData(60, 330, "far", true)]
    [InlineData(60, 330, "unknown", false)]            // no round c2c: nothing to compare with
    public void AVisitMovedWhenAProbeNextToItIsOfAnotherClass(double min, double max, string majority, bool moved)
    {
        var s = new RoundSample();
        s.Values[Metrics.VisitC2cMinNs] = min;
        s.Values[Metrics.VisitC2cMaxNs] = max;
        Assert.Equal(moved, Summaries.Moved(s, majority));
    }
}

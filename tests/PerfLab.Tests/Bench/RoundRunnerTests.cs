using HdrHistogram;
using PerfLab.Bench.Method;
using PerfLab.Bench.Method.Trials;
using PerfLab.Reports.Model;
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
}

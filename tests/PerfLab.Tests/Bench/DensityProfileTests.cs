using PerfLab.Bench.Method;
using PerfLab.Bench.Method.Trials;
using PerfLab.Reports.Model;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Polling;
using Xunit;

namespace PerfLab.Tests.Bench;

/// <summary>
/// The bench's density configurations (issue 14): the catalog's points, the density profile
/// and the default profile's small point, and the trial target that runs them (one back-end
/// serving N sockets, N guests through the load generator's device-set runner).
/// </summary>
public sealed class DensityProfileTests
{
    /// <summary>Every profile names catalog configurations, once each; a density point's
    /// reference (its strategy with one device) runs in every profile that runs the point.</summary>
    [Fact]
    public void EveryProfileNamesCatalogConfigurationsAndRunsTheDensityPointsReferences()
    {
        foreach (Profile p in Profile.All)
        {
            Assert.Null(p.Invalid());
            var ids = p.ConfigIds.ToHashSet();
            Assert.Equal(p.ConfigIds.Count, ids.Count);
            foreach (BenchConfiguration c in p.ConfigIds.Select(Configurations.Get).Where(c => c.Density))
            {
                Assert.True(c.Reference.Length == 0 || ids.Contains(c.Reference), $"{p.Name}: {c.Id}'s reference {c.Reference} is not in the profile");
            }
        }
        Assert.Equal(Configurations.Catalog.Count, Configurations.Catalog.Select(c => c.Id).Distinct().Count());
    }

    [Fact]
    public void TheDensityProfileRunsEveryStrategyAtEveryCountWithBusyGuests()
    {
        List<BenchConfiguration> cs = Profile.Find("density")!.ConfigIds.Select(Configurations.Get).ToList();
        Assert.Equal(16, cs.Count);
        Assert.Equal(
            from s in new[] { PollMode.Busy, PollMode.Interrupt, PollMode.Hybrid, PollMode.Backoff }
            from n in new[] { 1, 4, 16, 64 }
            select (s, n),
            cs.Select(c => (c.BackendPoll, c.Devices)));
        Assert.All(cs, c =>
        {
            Assert.True(c.OnDeviceSet && c.GuestPoll == PollMode.Busy, c.Id);
            Assert.Equal(c.Devices == 1 ? "" : $"density-{BenchConfiguration.Name(c.BackendPoll)}-1", c.Reference);
        });
        Assert.Equal("density-busy-64", cs[3].Id);

        // The default profile's small point: 8 devices against 1, hybrid back-end, busy guests.
        BenchConfiguration one = Configurations.Get("density-hybrid-1"), eight = Configurations.Get("density-hybrid-8");
        Assert.Contains(one.Id, Profile.Default.ConfigIds);
        Assert.Contains(eight.Id, Profile.Default.ConfigIds);
        Assert.Equal((PollMode.Hybrid, PollMode.Busy, 8, one.Id), (eight.BackendPoll, eight.GuestPoll, eight.Devices, eight.Reference));
        // ... with shorter warm-ups and load points than the default's other configurations;
        // the density profile keeps its own.
        Assert.Equal((0.15, 0.15), (Profile.Default.For(eight).WarmupS, Profile.Default.For(eight).LoadPointS));
        Assert.Equal((0.3, 0.3), (Profile.Default.For(Configurations.Get("busy-64")).WarmupS, Profile.Default.For(Configurations.Get("busy-64")).LoadPointS));
        Assert.Equal(Profile.Density, Profile.Density.For(eight));
        Assert.Contains("density points: warm-ups and load points of 0.15 s", Profile.Default.MethodText);
    }

    /// <summary>The density profile's rounds on simulated targets: every point searched and
    /// measured, each N-device point compared with its 1-device reference.</summary>
    [Fact]
    public void TheDensityProfilesRoundsRunOnSimulatedTargets()
    {
        Profile p = Profile.Density with { Rounds = 1, MaxRounds = 0, MeasureC2c = false, Width = 0.01 };
        var factory = new SimulatedTargetFactory();
        var runner = new RoundRunner(p, p.ConfigIds.Select(Configurations.Get).ToList(), factory, () => double.NaN, _ => { });
        runner.Run();
        Assert.Empty(runner.Problems);
        Assert.Equal(16, runner.Samples.Count);
        Assert.All(runner.Samples, s => Assert.True(s.Get(Metrics.PdrMpps) > 0, s.ConfigId));
        Assert.Contains(runner.Trials, t => t.ConfigId == "density-hybrid-1" && t.Point == "density-hybrid-64@50");
    }

    /// <summary>
    /// The real target: one perflab-backend serving four sockets (interrupt strategy) and four
    /// guests (interrupt guests here: nothing spins) in this process. A trial moves every
    /// device's traffic and the back-end drops nothing (the guests never overfill its RX
    /// rings); a ping-pong returns frames.
    /// </summary>
    [Fact]
    public void TheDensityTargetServesFourDevicesFromOneBackend()
    {
        BenchConfiguration c = Configurations.Get("density-interrupt-4") with { GuestPoll = PollMode.Interrupt };
        var factory = new LoadGenTargetFactory([], null);
        Assert.Null(factory.Unavailable(c));
        Timeouts.Run(Timeouts.Process, () =>
        {
            using ITrialTarget t = factory.Open(c);
            Assert.IsType<DensityTrialTarget>(t);
            _ = t.Run(20_000, 0.05); // warm-up
            LoadGenTargetTests.AssertATrialAndAPingPong(t);
        }, "density target");
    }
}

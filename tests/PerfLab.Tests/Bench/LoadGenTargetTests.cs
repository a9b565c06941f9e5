using PerfLab.Bench.Method;
using PerfLab.Bench.Method.Trials;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Diagnostics;
using Xunit;

namespace PerfLab.Tests.Bench;

/// <summary>
/// The bench's single-device trial target against a real perflab-backend (interrupt on both
/// sides: nothing spins): one connection serves the whole visit, throughput trials and
/// ping-pongs alike, and every trial counts only its own frames.
/// </summary>
public sealed class LoadGenTargetTests
{
    [Fact]
    public void OneConnectionServesEveryTrialOfAVisit()
    {
        BenchConfiguration c = Configurations.Get("interrupt-64");
        var factory = new LoadGenTargetFactory([], null);
        Assert.Null(factory.Unavailable(c));
        Timeouts.Run(Timeouts.Process, () =>
        {
            using ITrialTarget t = factory.Open(c);
            var target = Assert.IsType<LoadGenTrialTarget>(t);
            _ = t.Run(0, 0.05); // warm-up, unthrottled
            AssertATrialAndAPingPong(t);
            TrialOutcome again = t.Run(10_000, 0.05);
            Assert.True(again.Received > 0 && again.Received <= again.Offered, $"offered {again.Offered}, received {again.Received}");
            Assert.Equal(0, again.Errors);
            // Both strategies' decisions reach the bench (its "What the strategies decided"):
            // at 10 kpps an interrupt back-end sleeps between bursts.
            Assert.NotNull(again.GuestPoll);
            Assert.True(again.BackendPoll is { Sleeps: > 0 }, $"back-end decisions: {again.BackendPoll}");
            Assert.True(again.BackendWakeups > 0, $"back-end wake-ups: {again.BackendWakeups}");
            BackendStats s = StatsClient.TryFetch(target.BackendStatsSocket!) ?? throw new InvalidOperationException("no stats");
            // Sessions counts the sessions that ended: none did (one per trial did before).
            Assert.True(s.Sessions == 0, $"{s.Sessions} sessions ended during the visit");
        }, "single-device target");
    }

    /// <summary>A 20 kpps trial moves frames, all its own, with nothing dropped or wrong and
    /// the back-end's CPU known; a ping-pong after it returns frames.</summary>
    internal static void AssertATrialAndAPingPong(ITrialTarget t)
    {
        TrialOutcome o = t.Run(20_000, 0.1);
        Assert.True(o.Offered > 0 && o.Received > 0 && o.Received <= o.Offered, $"offered {o.Offered}, received {o.Received}");
        Assert.Equal(0, o.Errors);
        Assert.Equal(0, o.BackendDropped);
        Assert.True(double.IsFinite(o.BackendCpuNs), "no back-end CPU from its stats socket");
        Assert.Equal(o.Received, o.Latency!.TotalCount);
        // 0.2 s: a shared host can hold a vCPU off for tens of ms (0.05 s once came back empty
        // for four interrupt-driven devices while builds ran beside it).
        TrialOutcome ping = t.PingPong(0.2);
        Assert.True(ping.Received > 0, $"ping-pong returned nothing (offered {ping.Offered}, window {ping.DurationS:F3} s)");
    }
}

/// <summary>What a configuration asks of the bench's guest.</summary>
public sealed class GuestOptionsTests
{
    private sealed class NoBackend : PerfLab.Bench.EndToEnd.IBackendUnderTest
    {
        public string Label => "perflab";

        public int Pid => 0;

        public string? StatsSocket => "/nowhere";

        public void OnDeviceReady()
        {
        }

        public void Dispose()
        {
        }
    }

    [Fact]
    public void TheNappingGuestConfigurationNapsAndSaysSo()
    {
        BenchConfiguration c = Configurations.Get("hybrid-fill-guestnap-64");
        PerfLab.LoadGen.LoadGenOptions g = LoadGenTrialTarget.GuestOptions(c, "/s", new NoBackend());
        Assert.Equal(PerfLab.Vhost.Polling.PollMode.Hybrid, g.Poll.Mode);
        Assert.Equal(1, g.Poll.HybridNaps);
        Assert.Equal(20, g.Poll.HybridNapUs);
        Assert.Equal("hybrid napping 1x20 us", c.ToInfo().GuestPoll);
        Assert.Contains("--hybrid-kick-fill-us", c.BackendArgs);
        // The others' guests arm at once.
        Assert.Equal(0, LoadGenTrialTarget.GuestOptions(Configurations.Get("hybrid-64"), "/s", new NoBackend()).Poll.HybridNaps);
        Assert.Equal("hybrid", Configurations.Get("hybrid-64").ToInfo().GuestPoll);
    }
}

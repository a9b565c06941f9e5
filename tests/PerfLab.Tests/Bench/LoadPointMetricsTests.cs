using PerfLab.Bench.Method;
using PerfLab.Bench.Method.Trials;
using PerfLab.Reports.Model;
using PerfLab.Vhost.Polling;
using Xunit;

namespace PerfLab.Tests.Bench;

/// <summary>What a load point's trial becomes in the report's rounds: the strategies'
/// decisions per frame, their sleep lengths, and nothing for a side that keeps none.</summary>
public sealed class LoadPointMetricsTests
{
    [Fact]
    public void TheStrategiesDecisionsBecomePerFrameFigures()
    {
        long[] sleeps = new long[PollStats.Buckets];
        sleeps[4] = 90; // most sleeps in one bucket
        sleeps[7] = 10;
        var o = new TrialOutcome
        {
            DurationS = 1,
            Offered = 1000,
            Received = 1000,
            BackendWakeups = 100,
            BackendPoll = new PollDecisions { Sleeps = 100, BudgetNs = 50_000, NotifyWindowNs = 20_000, Naps = 500, KickTimeouts = 20, SleepHistogramUs = sleeps },
            GuestPoll = new PollDecisions { Sleeps = 0, BudgetNs = 0, NotifyWindowNs = 40_000 },
        };
        var s = new RoundSample { Round = 1, ConfigId = "hybrid-64" };
        LoadPointMetrics.Add(s, "", 10, o);
        Assert.Equal(0.1, s.Get(Metrics.At(Metrics.BackendSleepsPerFrame, 10)), 9);
        Assert.Equal(0.1, s.Get(Metrics.At(Metrics.BackendWakeupsPerFrame, 10)), 9);
        Assert.Equal(50, s.Get(Metrics.At(Metrics.BackendBudgetUs, 10)), 9);
        Assert.Equal(20, s.Get(Metrics.At(Metrics.BackendNotifyWindowUs, 10)), 9);
        Assert.Equal(0.5, s.Get(Metrics.At(Metrics.BackendNapsPerFrame, 10)), 9);
        Assert.Equal(0.02, s.Get(Metrics.At(Metrics.BackendKickTimeoutsPerFrame, 10)), 9);
        Assert.Equal(40, s.Get(Metrics.At(Metrics.GuestNotifyWindowUs, 10)), 9);
        Assert.Equal(PollStats.QuantileUs(sleeps, 0.5), s.Get(Metrics.At(Metrics.BackendSleepP50Us, 10)));
        Assert.Equal(PollStats.QuantileUs(sleeps, 0.99), s.Get(Metrics.At(Metrics.BackendSleepP99Us, 10)));
        Assert.True(s.Get(Metrics.At(Metrics.BackendSleepP99Us, 10)) > s.Get(Metrics.At(Metrics.BackendSleepP50Us, 10)));
        Assert.Equal(0, s.Get(Metrics.At(Metrics.GuestSleepsPerFrame, 10)));
        // The guest never slept: no sleep length to report.
        Assert.False(s.Values.ContainsKey(Metrics.At(Metrics.GuestSleepP50Us, 10)));
    }

    [Fact]
    public void BusyPollingHasNoDecisionFigures()
    {
        var o = new TrialOutcome { DurationS = 1, Offered = 1000, Received = 1000 };
        var s = new RoundSample { Round = 1, ConfigId = "busy-64" };
        LoadPointMetrics.Add(s, "", 50, o);
        Assert.DoesNotContain(s.Values.Keys, k => k.Contains("sleep", StringComparison.Ordinal) || k.Contains("budget", StringComparison.Ordinal)
            || k.Contains("wakeups", StringComparison.Ordinal));
    }
}

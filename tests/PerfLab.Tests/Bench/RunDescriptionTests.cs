using PerfLab.Bench;
using PerfLab.Bench.EndToEnd;
using PerfLab.Bench.Method;
using PerfLab.Vhost.Polling;
using Xunit;

namespace PerfLab.Tests.Bench;

/// <summary>What report.md says about a run must be what ran: options that change the profile
/// or a configuration's strategy show in the profile line and the configuration's label.</summary>
public class RunDescriptionTests
{
    [Fact]
    public void RoundsAndTrialOptionsShowBesideTheProfilesOwnDescription()
    {
        Assert.True(BenchOptions.TryParse([], out BenchOptions plain, out _));
        Assert.Equal("", Program.ProfileChanges(plain));
        Assert.True(BenchOptions.TryParse(["--rounds", "3", "--load-point-duration", "0.5"], out BenchOptions o, out string? error), error);
        string changes = Program.ProfileChanges(o);
        Assert.Contains("3 rounds", changes);
        Assert.Contains("load points 0.5 s", changes);
    }

    [Fact]
    public void ABackEndStrategyOverrideShowsInTheStrategyAndTheLabel()
    {
        BenchConfiguration busy = Configurations.Get(Configurations.BusyReference);
        var info = Program.AsRun(busy, PollMode.Interrupt).ToInfo();
        Assert.Equal("interrupt", info.BackendPoll);
        Assert.Contains("(back-end --poll interrupt)", info.Label);
        Assert.Equal(busy.Id, info.Id);
        Assert.Same(busy, Program.AsRun(busy, null));
        Assert.Same(busy, Program.AsRun(busy, PollMode.Busy));
        BenchConfiguration dpdk = Configurations.Get("dpdk-64");
        Assert.Same(dpdk, Program.AsRun(dpdk, PollMode.Interrupt));
    }
}

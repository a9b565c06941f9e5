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
        Assert.Contains("no rounds added", changes); // --rounds alone: exactly that many
        Assert.True(BenchOptions.TryParse(["--rounds", "4", "--max-rounds", "12"], out BenchOptions more, out error), error);
        Assert.Equal((4, 12), (more.Profile.Rounds, more.Profile.MaxRounds));
        Assert.Contains("up to 12 rounds", Program.ProfileChanges(more));
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

    [Fact]
    public void QueueSizeAndPackedApplyToEveryConfigurationAndShowInItsLabel()
    {
        Assert.True(BenchOptions.TryParse(["--queue-size", "1024", "--packed"], out BenchOptions o, out string? error), error);
        Assert.Equal((1024, true), (o.QueueSize, o.Packed));
        BenchConfiguration c = Program.WithEnvelope(Configurations.Get("dpdk-64"), o.QueueSize, o.Packed);
        Assert.Equal((1024, RingLayout.Packed, "dpdk-64"), (c.QueueSize, c.Ring, c.Id));
        Assert.EndsWith(", queue 1024 (--queue-size), packed (--packed)", c.Label);
        Assert.Equal("busy / busy, 64 B", Program.WithEnvelope(Configurations.Get("busy-64"), null, false).Label);
        Assert.True(BenchOptions.TryParse(["--queue-size", "1000", "--packed"], out _, out _));
        Assert.False(BenchOptions.TryParse(["--queue-size", "1000"], out _, out string? notPow2));
        Assert.Contains("power of two", notPow2);
        Assert.False(BenchOptions.TryParse(["--queue-size", "0"], out _, out string? zero));
        Assert.Contains("from 1 to 32768, not '0'", zero);
    }
}

using PerfLab.LoadGen;
using PerfLab.Tests.Infrastructure;
using Xunit;

namespace PerfLab.Tests.Integration;

/// <summary>The two daemons as separate processes, as in production. Neither busy-polls: on a
/// 2-core machine two spinners would starve each other and the test runner.</summary>
[Collection("processes")]
public class CrossProcessTests
{
    [Fact]
    public void LoadgenAgainstTheBackendDaemonGetsEveryFrameBackInOrder()
    {
        using var dir = new TempDir();
        string sock = dir.File("vhost.sock");
        string stats = dir.File("stats.sock");
        using var be = new Daemon("perflab-backend", "--socket", sock, "--stats-socket", stats, "--poll", "interrupt", "--stats-interval", "0");
        Assert.True(Daemon.WaitForFile(stats, Timeouts.Short), $"back-end did not start:\n{be.Stderr}");
        using var lg = new Daemon("perflab-loadgen", "--socket", sock, "--duration", "2", "--warmup", "0.5",
            "--poll", "interrupt", "--backend-stats", stats, "--verify", "--json");
        int rc = lg.WaitForExit(Timeouts.Process);
        Assert.True(rc == 0, $"loadgen exit {rc}\n{lg.Stdout}\n{lg.Stderr}");
        var r = LoadGenResult.FromJson(lg.Stdout);
        Assert.True(r.Received > 10_000, $"only {r.Received} frames");
        Assert.Equal(0, r.Lost);
        Assert.Equal(0, r.SeqErrors);
        Assert.Equal(0, r.VerifyErrors);
        Assert.Equal(r.Sent, r.Received);
        Assert.True(r.BackendPackets > 0, "back-end stats were not read");
        Assert.True(r.BackendCpuNs > 0);
        // Back-end daemon stops on SIGTERM with a summary that has its GC counts.
        be.Signal(15);
        Assert.Equal(0, be.WaitForExit(Timeouts.Short));
        Assert.Contains("summary:", be.Stdout);
        Assert.Contains("gen0=", be.Stdout);
    }

    [Fact]
    public void BothCliPrintHelp()
    {
        using var be = new Daemon("perflab-backend", "--help");
        Assert.Equal(0, be.WaitForExit(Timeouts.Short));
        Assert.Contains("--mode loopback|sink", be.Stdout);
        using var lg = new Daemon("perflab-loadgen", "--help");
        Assert.Equal(0, lg.WaitForExit(Timeouts.Short));
        Assert.Contains("--queue-size", lg.Stdout);
        using var bad = new Daemon("perflab-loadgen", "--no-such-option");
        Assert.Equal(2, bad.WaitForExit(Timeouts.Short));
    }
}

[CollectionDefinition("processes", DisableParallelization = true)]
public sealed class ProcessesCollection
{
}

/// <summary>Every strategy, on each side, through the cross-process round trip. The other side
/// sleeps (interrupt): never two spinners on a 2-core machine.</summary>
[Collection("processes")]
public class StrategyRoundTripTests
{
    public static TheoryData<string, string> Pairs => new()
    {
        { "busy", "interrupt" },
        { "hybrid", "interrupt" },
        { "backoff", "interrupt" },
        { "interrupt", "interrupt" },
        { "interrupt", "busy" },
        { "interrupt", "hybrid" },
        { "interrupt", "backoff" },
    };

    [Theory]
    [MemberData(nameof(Pairs))]
    public void EveryStrategyPassesTheRoundTrip(string backendPoll, string guestPoll)
    {
        using var dir = new TempDir();
        string sock = dir.File("vhost.sock");
        string stats = dir.File("stats.sock");
        using var be = new Daemon("perflab-backend", "--socket", sock, "--stats-socket", stats, "--poll", backendPoll,
            "--hybrid-budget-us", "20", "--stats-interval", "0");
        Assert.True(Daemon.WaitForFile(stats, Timeouts.Short), $"back-end did not start:\n{be.Stderr}");
        using var lg = new Daemon("perflab-loadgen", "--socket", sock, "--duration", "1", "--warmup", "0.3",
            "--poll", guestPoll, "--hybrid-budget-us", "20", "--backend-stats", stats, "--json");
        int rc = lg.WaitForExit(Timeouts.Process);
        Assert.True(rc == 0, $"loadgen exit {rc}\n{lg.Stdout}\n{lg.Stderr}");
        var r = LoadGenResult.FromJson(lg.Stdout);
        Assert.True(r.Received > 1000, $"only {r.Received} frames");
        Assert.Equal(r.Sent, r.Received);
        Assert.Equal(0, r.SeqErrors);
        Assert.Equal(0, r.BackendDataPlaneAllocatedBytes);
        Assert.Equal(0, r.Gen0);
        Assert.Equal(0, r.BackendGen0);
    }
}

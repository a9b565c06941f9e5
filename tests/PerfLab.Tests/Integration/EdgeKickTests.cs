using PerfLab.LoadGen;
using PerfLab.Tests.Infrastructure;
using Xunit;

namespace PerfLab.Tests.Integration;

/// <summary>
/// The back-end with its kick eventfds edge-triggered and never read (<c>--kick-fds edge</c>, the
/// default), and level-triggered and read on each wake-up (<c>level</c>), both daemons sleeping
/// on notifications: every frame comes back, the worker slept and woke on
/// kicks (none was lost: a lost one would leave both sides asleep until the load generator's
/// own deadline, and frames behind), and the worker's thread allocated nothing.
/// </summary>
[Collection("processes")]
public class EdgeKickTests
{
    [Theory]
    [InlineData(false, "edge")]
    [InlineData(true, "edge")]
    [InlineData(false, "level")]
    [InlineData(true, "level")]
    public void KicksWakeTheWorkerForEveryFrame(bool packed, string kickFds)
    {
        using var dir = new TempDir();
        string sock = dir.File("vhost.sock");
        string stats = dir.File("stats.sock");
        using var be = new Daemon("perflab-backend", ["--socket", sock, "--stats-socket", stats, "--poll", "interrupt",
            "--kick-fds", kickFds, "--stats-interval", "0", "--cpus", "1"]);
        Assert.True(Daemon.WaitForFile(stats, Timeouts.Short), $"back-end did not start:\n{be.Stderr}");
        LoadGenResult r = Daemon.RunLoadGen(
            ["--socket", sock, "--duration", "1", "--warmup", "0.2", "--poll", "interrupt", "--rate", "200000", "--backend-stats", stats, "--json", "--cpu", "0"],
            packed);
        Assert.True(r.Received > 50_000, $"only {r.Received} frames");
        Assert.Equal(r.Sent, r.Received);
        Assert.NotNull(r.BackendPoll);
        Assert.True(r.BackendPoll.Sleeps > 1_000, $"the back-end slept {r.BackendPoll.Sleeps} times: not a wake-up test");
        Assert.True(r.Kicks > 1_000, $"{r.Kicks} kicks");
        Assert.Equal(0, r.BackendDataPlaneAllocatedBytes);
    }
}

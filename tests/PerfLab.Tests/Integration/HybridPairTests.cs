using PerfLab.LoadGen;
using PerfLab.Tests.Infrastructure;
using Xunit;

namespace PerfLab.Tests.Integration;

/// <summary>
/// Hybrid on both sides, both daemons, full load: the pair must poll, not take turns sleeping
/// (issue 17's collapse: each side's sleep made the other's long, both budgets fell to zero and
/// the pair ran as interrupt, a ring per two wake-ups). Asserted on the sleep counters of both
/// sides, not on the rate.
/// <para>
/// Two threads spin here, on a two-vCPU machine: that is the behaviour under test. It is kept to
/// 1.3 s per case, and a hybrid side that loses its vCPU's partner (the host, or another test,
/// takes it) sleeps after its budget (at most 200 µs), so it never holds the machine the way two
/// busy-pollers would.
/// </para>
/// </summary>
[Collection("processes")]
public class HybridPairTests
{
    // Packed rings, and two pairs on one worker: the suite runs Debug builds, where a packed
    // pair moves a burst every ~14 µs, beyond the default 10 µs break-even, so the back-end
    // rightly sleeps between bursts (once per 9-15 bursts, against once per 10^4 and more in
    // Release). Two split pairs on one worker came there too on a host whose usual placement is
    // far (a back-end sleep per 16 bursts, its budget at 0). Both sides get a 40 µs break-even
    // there, so that the case asks what it asks of one split pair: whether a pair whose gaps
    // are worth polling through polls, or takes turns sleeping.
    [Theory]
    [InlineData(false, 1)]
    [InlineData(false, 2)]
    [InlineData(true, 1)]
    public void AtFullLoadAHybridPairSleepsFarLessThanOncePerBurst(bool packed, int queues)
    {
        using var dir = new TempDir();
        string sock = dir.File("vhost.sock");
        string stats = dir.File("stats.sock");
        // Pinned apart, as deployed and benchmarked: two pollers sharing one vCPU should sleep,
        // and would. So the pairs share one worker (issue 17: two queue pairs on one worker);
        // a worker per pair would put two hybrid pollers on CPU 1, taking turns in scheduler
        // slices far beyond the budget's ceiling.
        string[] breakEven = packed || queues > 1 ? ["--hybrid-breakeven-us", "40"] : [];
        using var be = new Daemon("perflab-backend", ["--socket", sock, "--stats-socket", stats, "--poll", "hybrid",
            "--stats-interval", "0", "--cpus", "1", "--workers", "1", "--queues", queues.ToString(System.Globalization.CultureInfo.InvariantCulture), .. breakEven]);
        Assert.True(Daemon.WaitForFile(stats, Timeouts.Short), $"back-end did not start:\n{be.Stderr}");
        var args = new List<string>
        {
            "--socket", sock, "--duration", "1", "--warmup", "0.3", "--poll", "hybrid", "--backend-stats", stats, "--json", "--cpu", "0",
            "--queues", queues.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        args.AddRange(breakEven);
        LoadGenResult r = Daemon.RunLoadGen(args, packed);
        Assert.Equal(r.Sent, r.Received);
        Assert.NotNull(r.GuestPoll);
        Assert.NotNull(r.BackendPoll);
        long bursts = r.Received / r.Burst;
        long sleeps = r.GuestPoll.Sleeps + r.BackendPoll.Sleeps;
        Assert.True(bursts > 5_000, $"only {bursts} bursts");
        // Collapsed, each side sleeps once a ring (eight bursts): a sleep per four bursts. Alone
        // on the machine a pair sleeps about once per 10^4-10^5 bursts; with other processes
        // taking its vCPUs now and then, about once per 100. One in 20 tells them apart.
        // (The budget at the window's end is not asserted: it is one moment's value, and a few
        // descheduled milliseconds of either side halve it several times over.)
        Assert.True(20 * sleeps < bursts,
            $"{r.GuestPoll.Sleeps} guest and {r.BackendPoll.Sleeps} back-end sleeps for {bursts} bursts (budgets {r.GuestPoll.BudgetNs} and {r.BackendPoll.BudgetNs} ns)");
        Assert.Equal(0, r.BackendDataPlaneAllocatedBytes);
    }
}

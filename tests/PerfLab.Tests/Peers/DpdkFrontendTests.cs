using PerfLab.Peers;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Diagnostics;
using Xunit;

namespace PerfLab.Tests.Peers;

/// <summary>
/// DPDK's virtio-user PMD (dpdk-testpmd) as the front-end of our back-end. testpmd busy-polls
/// its own CPU; our back-end sleeps in epoll (--poll interrupt) on the other.
/// </summary>
[Collection("processes")]
public class DpdkFrontendTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);

    [RequiresTestpmdFact]
    public void EveryFrameTestpmdSendsInTxonlyIsCountedByOurSink() => AssertTxonlyCounted();

    /// <summary>io forwarding with tx_first against our loopback, testpmd listening: the
    /// seeded burst circulates, nothing is lost.</summary>
    [RequiresTestpmdFact]
    public void TestpmdIoBounceThroughOurLoopbackLosesNothing() => AssertIoLosesNothing();

    /// <summary>Packed rings with DPDK's own in-order driver (virtio-user keeps IN_ORDER on):
    /// the back-end returns each TX burst as one used descriptor naming its last buffer, and
    /// DPDK's virtio_xmit_cleanup_inorder_packed walks the batch to it. At queue 1024, with the
    /// whole ring in use (--txd 1024), every frame testpmd sent is counted once.</summary>
    [RequiresTestpmdFact]
    public void PackedInOrderTxonlyAtQueue1024IsCountedExactly() => AssertTxonlyCounted("--packed", "--queue-size", "1024");

    /// <summary>io bounce over packed rings at queue 1024: TX batches (one used descriptor each)
    /// and RX batches (one per buffer, with lengths) both reach DPDK's driver; nothing is lost.</summary>
    [RequiresTestpmdFact]
    public void PackedIoBounceAtQueue1024LosesNothing() => AssertIoLosesNothing("--packed", "--queue-size", "1024");

    private static void AssertTxonlyCounted(params string[] more)
    {
        ScriptResult r = PeerEnvironment.RunScript("dpdk-frontend", Limit, ["--mode", "txonly", "--seconds", "2", .. more]);
        r.AssertPassed();
        long tx = r.Number("dpdk-frontend: txonly", "testpmd_tx");
        Assert.True(tx > 0, r.Output);
        Assert.Equal(tx, r.Number("dpdk-frontend: txonly", "backend"));
        Assert.Equal(r.Number("dpdk-frontend: txonly", "testpmd_tx_bytes"), r.Number("dpdk-frontend: txonly", "backend_bytes"));
    }

    private static void AssertIoLosesNothing(params string[] more)
    {
        ScriptResult r = PeerEnvironment.RunScript("dpdk-frontend", Limit, ["--mode", "io", "--seconds", "2", "--dpdk-server", .. more]);
        r.AssertPassed();
        long tx = r.Number("dpdk-frontend: io", "testpmd_tx");
        long rx = r.Number("dpdk-frontend: io", "testpmd_rx");
        Assert.True(rx > 0, r.Output);
        Assert.Equal(tx, r.Number("dpdk-frontend: io", "backend"));
        Assert.Equal(32, tx - rx); // one burst seeded, still in flight at the end
    }

    /// <summary>The C# launcher the bench uses, against the back-end daemon: testpmd's TX
    /// counter and the back-end's frame counter agree once forwarding stopped.</summary>
    [RequiresTestpmdFact]
    public void LauncherDrivesVirtioUserAgainstOurBackendDaemon()
    {
        using var dir = new TempDir();
        string sock = dir.File("vhost.sock");
        string stats = dir.File("stats.sock");
        using var be = new Daemon("perflab-backend", "--socket", sock, "--stats-socket", stats, "--mode", "sink",
            "--poll", "interrupt", "--cpus", PeerEnvironment.OwnCpu.ToString(System.Globalization.CultureInfo.InvariantCulture), "--stats-interval", "0");
        Assert.True(Daemon.WaitForFile(sock, Timeouts.Short), $"back-end did not start:\n{be.Stderr}");
        using var tp = Testpmd.StartVirtioUserFrontend(sock, "txonly", cpu: PeerEnvironment.PeerCpu, frameSize: 128);
        Assert.True(tp.Pid > 0);
        Assert.Equal(0, tp.ReadPortStats().TxPackets);
        tp.Start();
        Assert.True(Timeouts.WaitUntil(() => StatsClient.Fetch(stats).Packets > 100_000, Timeouts.Process),
            $"the back-end counted too little:\n{tp.Output}\n{be.Stdout}{be.Stderr}");
        tp.StopForwarding();
        PortStats ps = default;
        long ours = 0;
        // Once testpmd stopped, the back-end drains what is left on the ring: the two converge.
        bool agree = Timeouts.WaitUntil(() =>
        {
            ps = tp.ReadPortStats();
            ours = StatsClient.Fetch(stats).Packets;
            return ps.TxPackets == ours;
        }, Timeouts.Short);
        Assert.True(agree, $"testpmd sent {ps.TxPackets}, the back-end counted {ours}");
        Assert.Equal(0, ps.TxErrors);
        Assert.Equal(ps.TxPackets * 128, StatsClient.Fetch(stats).Bytes);
        Assert.Contains("Set txonly packet forwarding mode", tp.Output, StringComparison.Ordinal);
    }
}

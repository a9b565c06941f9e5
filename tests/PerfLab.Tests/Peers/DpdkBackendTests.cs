using PerfLab.LoadGen;
using PerfLab.Peers;
using PerfLab.Tests.Infrastructure;
using Xunit;

namespace PerfLab.Tests.Peers;

/// <summary>
/// Our load generator, unchanged, against DPDK's vhost PMD (dpdk-testpmd forwarding each frame
/// back): the bench's baseline. testpmd busy-polls its own CPU; the load generator sleeps in
/// epoll (--poll interrupt). The vhost PMD drops frames for which the guest posted no RX
/// buffer, so the load generator keeps at most a ring's worth in flight (--inflight 256).
/// </summary>
[Collection("processes")]
public class DpdkBackendTests
{
    [RequiresTestpmdFact]
    public void LoadgenGetsEveryFrameBackFromTestpmdAndTheCountersAgree()
    {
        ScriptResult r = PeerEnvironment.RunScript("dpdk-backend", TimeSpan.FromSeconds(120), "--duration", "2");
        r.AssertPassed();
        const string line = "dpdk-backend: sent=";
        long sent = r.Number(line, "sent");
        Assert.True(sent > 10_000, r.Output);
        Assert.Equal(sent, r.Number(line, "received"));
        Assert.Equal(0, r.Number(line, "lost"));
        Assert.Equal(sent, r.Number(line, "testpmd_rx"));
        Assert.Equal(sent, r.Number(line, "testpmd_tx"));
    }

    [RequiresTestpmdFact]
    public void LauncherServesTheLoadgenAsVhostBackendInIoAndMacswap()
    {
        foreach (string mode in new[] { "macswap", "io" })
        {
            using var dir = new TempDir();
            string sock = dir.File("vhost.sock");
            using var tp = Testpmd.StartVhostBackend(sock, mode, cpu: PeerEnvironment.PeerCpu);
            Assert.True(File.Exists(sock));
            using var lg = new Daemon("perflab-loadgen", "--socket", sock, "--duration", "1", "--warmup", "0.2",
                "--poll", "interrupt", "--inflight", "256", "--cpu", PeerEnvironment.OwnCpu.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--backend-pid", tp.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json");
            int rc = lg.WaitForExit(Timeouts.Process);
            Assert.True(rc == 0, $"{mode}: loadgen exit {rc}\n{lg.Stdout}\n{lg.Stderr}\n{tp.Output}");
            var res = LoadGenResult.FromJson(lg.Stdout);
            Assert.True(res.Received > 10_000, $"{mode}: only {res.Received} frames");
            Assert.Equal(res.Sent, res.Received);
            Assert.Equal(0, res.SeqErrors);
            Assert.True(res.BackendCpuNs > 0, "testpmd's CPU time was not read from /proc");
            // io forwards frames as they came; macswap swaps the MACs as our loopback does.
            if (mode == "io")
            {
                Assert.Equal(res.Received, res.Unswapped);
            }
            else
            {
                Assert.Equal(0, res.Unswapped);
            }
            PortStats ps = tp.ReadPortStats();
            Assert.Equal(res.Sent, ps.RxPackets);
            Assert.Equal(res.Received, ps.TxPackets);
            Assert.Equal(0, ps.RxErrors + ps.TxErrors + ps.RxMissed);
        }
    }
}

using PerfLab.Peers;
using PerfLab.Tests.Infrastructure;
using Xunit;

namespace PerfLab.Tests.Peers;

[Collection("processes")]
public class TestpmdLauncherTests
{
    private const string ShowPortStats = """
        testpmd> show port stats 1

          ######################## NIC statistics for port 1  ########################
          RX-packets: 7          RX-missed: 8          RX-bytes:  448
          RX-errors: 9
          RX-nombuf:  0
          TX-packets: 10         TX-errors: 11         TX-bytes:  640

          Throughput (since last show)
          Rx-pps:            0          Rx-bps:            0
          Tx-pps:            0          Tx-bps:            0
          ############################################################################
        testpmd> show port stats 0

          ######################## NIC statistics for port 0  ########################
          RX-packets: 18623776   RX-missed: 1          RX-bytes:  1191921664
          RX-errors: 2
          RX-nombuf:  0
          TX-packets: 18623775   TX-errors: 3          TX-bytes:  1191921600

          Throughput (since last show)
          Rx-pps:       409545          Rx-bps:    209687144
          Tx-pps:       410143          Tx-bps:    209993584
          ############################################################################
        testpmd>
        """;

    [Fact]
    public void PortStatsAreParsedFromTestpmdsOutputPerPort()
    {
        Assert.Equal(new PortStats(18623776, 1, 2, 18623775, 3), PortStats.TryParse(ShowPortStats, 0));
        Assert.Equal(new PortStats(7, 8, 9, 10, 11), PortStats.TryParse(ShowPortStats, 1));
        Assert.Null(PortStats.TryParse(ShowPortStats, 2));
        // A block still being printed is not a result yet.
        string partial = ShowPortStats[ShowPortStats.IndexOf("testpmd> show port stats 0", StringComparison.Ordinal)..];
        Assert.Null(PortStats.TryParse(partial[..partial.IndexOf("Throughput", StringComparison.Ordinal)], 0));
    }

    [Fact]
    public void FindBinaryAndVersionAgree()
    {
        string? bin = Testpmd.FindBinary();
        Assert.Equal(bin != null, Testpmd.IsInstalled);
        if (bin != null)
        {
            Assert.True(File.Exists(bin));
            Assert.Matches(@"^\d+\.\d+(\.\d+)*$", Testpmd.Version() ?? "(null)");
        }
    }

    [RequiresTestpmdFact]
    public void DisposeQuitsTestpmdAndLeavesNothingBehind()
    {
        using var dir = new TempDir();
        string sock = dir.File("vhost.sock");
        string log = dir.File("testpmd.log");
        int pid;
        using (var tp = Testpmd.StartVhostBackend(sock, "io", cpu: PeerEnvironment.PeerCpu, logPath: log))
        {
            pid = tp.Pid;
            Assert.Contains("testpmd> ", tp.Output, StringComparison.Ordinal);
            Assert.Equal(new PortStats(0, 0, 0, 0, 0), tp.ReadPortStats());
        }
        Assert.True(Mono.Unix.Native.Syscall.kill(pid, 0) != 0, $"testpmd {pid} still runs");
        Assert.Contains("Bye...", File.ReadAllText(log), StringComparison.Ordinal);
        Assert.Empty(Directory.Exists("/var/run/dpdk")
            ? Directory.GetDirectories("/var/run/dpdk", $"perflab-{Environment.ProcessId}-*")
            : []);
    }

    [RequiresTestpmdFact]
    public void StartFailsWithTestpmdsOutputWhenThePortCannotAttach()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<InvalidOperationException>(() =>
            Testpmd.StartVirtioUserFrontend(dir.File("nobody-listens.sock"), cpu: PeerEnvironment.PeerCpu));
        // Either testpmd exits, or it reaches its prompt with no port: both are reported with
        // its output, which names the failure.
        Assert.Contains("EAL", e.Message, StringComparison.Ordinal);
        Assert.True(e.Message.Contains("could not attach", StringComparison.Ordinal) || e.Message.Contains("exited with", StringComparison.Ordinal), e.Message);
        Assert.Contains("net_virtio_user0", e.Message, StringComparison.Ordinal);
    }

    [RequiresTestpmdFact]
    public void UnknownForwardModeIsRejected()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<ArgumentException>(() =>
            Testpmd.StartVhostBackend(dir.File("vhost.sock"), "no-such-mode", cpu: PeerEnvironment.PeerCpu));
        Assert.Contains("no-such-mode", e.Message, StringComparison.Ordinal);
    }
}

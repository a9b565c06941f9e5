using PerfLab.LoadGen;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Protocol;
using Xunit;

namespace PerfLab.Tests.Hostile;

/// <summary>
/// A front-end that shrinks its memory file under running rings (docs/robustness.md#a-front-end-that-shrinks-guest-memory),
/// against the back-end daemon as a separate process (the fault would otherwise be this test
/// host's). A file that can be sealed is sealed by the back-end, so the shrink fails; one that
/// cannot (DPDK's memfd: no MFD_ALLOW_SEALING) is shrunk, the guest kicks, the device touches a
/// page that no longer exists: that session ends with one log line, the daemon serves the next
/// front-end with verified traffic, and ends cleanly. Both sides sleep (interrupt).
/// </summary>
[Collection("processes")]
public sealed class ShrunkMemoryTests
{
    private const uint RxRing = 0;
    private const uint TxRing = 1;

    private static Daemon StartBackend(TempDir dir, out string sock)
    {
        sock = dir.File("vhost.sock");
        string stats = dir.File("stats.sock");
        var be = new Daemon("perflab-backend", "--socket", sock, "--stats-socket", stats, "--poll", "interrupt",
            "--stats-interval", "0");
        Assert.True(Daemon.WaitForFile(stats, Timeouts.Short), $"back-end did not start:\n{be.Stderr}");
        return be;
    }

    /// <summary>Hello, one 1 MiB region from <paramref name="memfd"/>, pair 0's rings in it
    /// (RX at 0x4000, TX at 0), enabled; returns the TX ring's kick eventfd. A round trip makes
    /// sure they run.</summary>
    private static int RunPair(HostileFrontend fe, int memfd)
    {
        fe.Hello();
        var r = new MemoryRegionDesc(0x1_0000_0000, 1 << 20, 0x7f00_0000_0000, 0);
        fe.Fe.SetMemTable([r], [memfd]);
        int kick = -1;
        foreach (uint ring in new[] { RxRing, TxRing })
        {
            fe.Fe.SetVringNum(ring, 256);
            fe.Fe.SetVringBase(ring, 0);
            fe.Fe.SetVringAddr(HostileFrontend.RingAddr(ring, r.UserspaceAddr + (ring == RxRing ? 0x4000UL : 0)));
            kick = fe.EventFd();
            fe.Fe.SetVringKick(ring, kick);
            fe.Fe.SetVringEnable(ring, true);
        }
        fe.AssertAlive();
        return kick;
    }

    private static void AssertServesAGoodSession(string sock, Daemon be)
    {
        Timeouts.Run(Timeouts.Process, () =>
        {
            using var gen = new LoadGenerator(Traffic.Quick(sock) with { DurationS = 0.2, WarmupS = 0.05 });
            gen.Setup();
            Traffic.AssertIntact(gen.Run());
        }, "good session after the shrink");
        Assert.False(be.HasExited, $"the daemon exited:\n{be.Stderr}");
    }

    private static string[] Problems(Daemon be) =>
        be.Stderr.Split('\n').Where(l => l.Contains("[error]", StringComparison.Ordinal) || l.Contains("[warn]", StringComparison.Ordinal)).ToArray();

    [Fact]
    public void AnUnsealableFileShrunkUnderRunningRingsEndsOnlyThatSession()
    {
        using var dir = new TempDir();
        using Daemon be = StartBackend(dir, out string sock);
        using (var fe = new HostileFrontend(sock))
        {
            int memfd = fe.Memfd(1 << 20); // MFD_CLOEXEC only, like DPDK's: cannot be sealed
            int kick = RunPair(fe, memfd);
            Assert.Equal(0, LibC.ftruncate(memfd, 0));
            EventFd.Signal(kick);
            Assert.True(fe.ClosedWithin(Timeouts.Short), $"the back-end did not end the session:\n{be.Stderr}");
        }
        Assert.False(be.HasExited, $"the daemon died:\n{be.Stderr}");
        AssertServesAGoodSession(sock, be);
        ExitsCleanly(be);

        string[] problems = Problems(be);
        Assert.True(problems.Length == 1 && problems[0].Contains("guest memory revoked", StringComparison.Ordinal)
            && problems[0].Contains("shrank the file of region", StringComparison.Ordinal),
            $"expected one line naming the revoked memory, got:\n{string.Join("\n", problems)}\n{be.Stderr}");
    }

    /// <summary>SIGTERM, exit 0, and every line the daemon wrote read: the test host reads
    /// stderr on the thread pool, which a busy test run can delay past any fixed wait.</summary>
    private static void ExitsCleanly(Daemon be)
    {
        be.Signal(15);
        Assert.Equal(0, be.WaitForExit(Timeouts.Short));
    }

    [Fact]
    public void ASealableFileIsSealedAgainstShrinkingSoTheShrinkFails()
    {
        using var dir = new TempDir();
        using Daemon be = StartBackend(dir, out string sock);
        using (var fe = new HostileFrontend(sock))
        {
            int memfd = fe.Own(LibC.memfd_create("perflab-sealable", LibC.MFD_CLOEXEC | LibC.MFD_ALLOW_SEALING));
            Assert.Equal(0, LibC.ftruncate(memfd, 1 << 20));
            int kick = RunPair(fe, memfd);
            Assert.NotEqual(0, LibC.fcntl(memfd, LibC.F_GET_SEALS, 0) & LibC.F_SEAL_SHRINK);
            Assert.Equal(-1, LibC.ftruncate(memfd, 0));
            Assert.Equal(0, LibC.ftruncate(memfd, 2 << 20)); // growing is harmless and stays allowed
            EventFd.Signal(kick);
            fe.AssertAlive();
        }
        AssertServesAGoodSession(sock, be);
        ExitsCleanly(be);
        Assert.Empty(Problems(be));
    }

    [Fact]
    public void SealingLeavesOtherFilesAlone()
    {
        int fd = LibC.memfd_create("perflab-unsealable", LibC.MFD_CLOEXEC);
        try
        {
            Assert.False(GuestMemoryFaults.SealAgainstShrinking(fd));
            Assert.Equal(LibC.F_SEAL_SEAL, LibC.fcntl(fd, LibC.F_GET_SEALS, 0));
        }
        finally
        {
            LibC.CloseQuietly(fd);
        }
    }
}

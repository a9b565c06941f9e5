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
            ShrinkAndKick(fe, memfd, kick, be);
        }
        AssertOnlyThatSessionEnded(be, sock, "shrank the file of region");
    }

    /// <summary>Shrinks <paramref name="file"/> to 0 and kicks: the back-end must end the session.</summary>
    private static void ShrinkAndKick(HostileFrontend fe, int file, int kick, Daemon be)
    {
        Assert.Equal(0, LibC.ftruncate(file, 0));
        EventFd.Signal(kick);
        Assert.True(fe.ClosedWithin(Timeouts.Short), $"the back-end did not end the session:\n{be.Stderr}");
    }

    /// <summary>The daemon lives on, serves a good session, exits 0, and logged exactly one
    /// problem: the revocation, naming <paramref name="what"/>.</summary>
    private static void AssertOnlyThatSessionEnded(Daemon be, string sock, string what)
    {
        Assert.False(be.HasExited, $"the daemon died:\n{be.Stderr}");
        AssertServesAGoodSession(sock, be);
        ExitsCleanly(be);
        string[] problems = Problems(be);
        Assert.True(problems.Length == 1 && problems[0].Contains("guest memory revoked", StringComparison.Ordinal)
            && problems[0].Contains(what, StringComparison.Ordinal),
            $"expected one line naming the revoked memory ({what}), got:\n{string.Join("\n", problems)}\n{be.Stderr}");
    }

    /// <summary>
    /// Two devices on one worker: while device 1's front-end moves verified traffic, device 0's
    /// front-end shrinks its unsealable memory file under running rings and kicks. The fault is
    /// taken on the worker both devices share; device 0's session ends with one line, and device
    /// 1's traffic, before, during and after it, loses nothing and stays intact.
    /// </summary>
    [Fact]
    public void AShrinkOnOneDeviceLeavesTheOtherDevicesTrafficIntact()
    {
        using var dir = new TempDir();
        string sockets = dir.File("devices");
        Directory.CreateDirectory(sockets);
        string stats = dir.File("stats.sock");
        using var be = new Daemon("perflab-backend", "--sockets", sockets, "--devices", "2", "--workers", "1",
            "--stats-socket", stats, "--poll", "interrupt", "--stats-interval", "0");
        Assert.True(Daemon.WaitForFile(stats, Timeouts.Short), $"back-end did not start:\n{be.Stderr}");
        string victim = Path.Combine(sockets, "vhost-0.sock"), bystander = Path.Combine(sockets, "vhost-1.sock");

        using var gen = new LoadGenerator(Traffic.Quick(bystander) with { DurationS = 2.0, WarmupS = 0.05 });
        gen.Setup();
        LoadGenResult? result = null;
        var traffic = Task.Run(() => result = gen.Run());
        using (var fe = new HostileFrontend(victim))
        {
            int memfd = fe.Memfd(1 << 20); // MFD_CLOEXEC only, like DPDK's: cannot be sealed
            int kick = RunPair(fe, memfd);
            Assert.False(traffic.IsCompleted, "the bystander's window ended before the shrink: lengthen it");
            Assert.Equal(0, LibC.ftruncate(memfd, 0));
            EventFd.Signal(kick);
            Assert.True(fe.ClosedWithin(Timeouts.Short), $"the back-end did not end the session:\n{be.Stderr}");
        }
        Assert.True(traffic.Wait(Timeouts.Process), "the bystander's traffic did not finish");
        Traffic.AssertIntact(result!);
        Assert.False(be.HasExited, $"the daemon died:\n{be.Stderr}");
        ExitsCleanly(be);
        string[] problems = Problems(be);
        Assert.True(problems.Length == 1 && problems[0].Contains("guest memory revoked", StringComparison.Ordinal),
            $"expected one line naming the revoked memory, got:\n{string.Join("\n", problems)}\n{be.Stderr}");
    }

    /// <summary>SIGTERM, exit 0, and every line the daemon wrote read: the test host reads
    /// stderr on the thread pool, which a busy test run can delay past any fixed wait.</summary>
    private static void ExitsCleanly(Daemon be)
    {
        be.Signal(15);
        Assert.Equal(0, be.WaitForExit(Timeouts.Short));
    }

    /// <summary>
    /// The dirty log's file, defended as guest memory is: a log that can be sealed is (its shrink
    /// fails); an unsealable one (replacing it) is shrunk while logging is on and a frame is
    /// queued, the device marks a page of the log that no longer exists: that session ends with
    /// one log line, the daemon serves the next front-end and ends cleanly.
    /// </summary>
    [Fact]
    public void AnUnsealableDirtyLogShrunkWhileLoggingEndsOnlyThatSession()
    {
        using var dir = new TempDir();
        using Daemon be = StartBackend(dir, out string sock);
        using (var fe = new HostileFrontend(sock))
        {
            fe.Hello(HostileFrontend.DefaultProtocol | ProtocolFeatures.LogShmfd, VirtioFeatures.LogAll);
            var (r, memfd) = fe.Region(1 << 20, gpa: 0);
            fe.Fe.SetMemTable([r], [memfd]);

            int sealable = fe.Own(LibC.memfd_create("perflab-log-sealable", LibC.MFD_CLOEXEC | LibC.MFD_ALLOW_SEALING));
            Assert.Equal(0, LibC.ftruncate(sealable, 4096));
            fe.Fe.SetLogBase(4096, 0, sealable);
            Assert.NotEqual(0, LibC.fcntl(sealable, LibC.F_GET_SEALS, 0) & LibC.F_SEAL_SHRINK);
            Assert.Equal(-1, LibC.ftruncate(sealable, 0));

            int log = fe.Memfd(4096, "perflab-log"); // MFD_CLOEXEC only: cannot be sealed
            fe.Fe.SetLogBase(4096, 0, log); // pages 0 .. 32767: the whole region
            int kick = -1;
            foreach (uint ring in new[] { RxRing, TxRing })
            {
                ulong at = ring == RxRing ? 0x4000UL : 0;
                VringAddr a = HostileFrontend.RingAddr(ring, r.UserspaceAddr + at);
                a.Flags = VringAddr.FlagLog; // the used ring's writes are logged too
                a.LogGuestAddr = r.GuestPhysAddr + at + 0x2000;
                fe.Fe.SetVringNum(ring, 256);
                fe.Fe.SetVringBase(ring, 0);
                fe.Fe.SetVringAddr(a);
                kick = fe.EventFd();
                fe.Fe.SetVringKick(ring, kick);
                fe.Fe.SetVringEnable(ring, true);
            }
            // One RX buffer and one TX frame: whatever the device writes, it logs.
            QueueBuffer(memfd, ringAt: 0x4000, buffer: 0x20000, len: 2048, deviceWrites: true);
            QueueBuffer(memfd, ringAt: 0, buffer: 0x10000, len: 12 + 60, deviceWrites: false);
            fe.AssertAlive();
            ShrinkAndKick(fe, log, kick, be);
        }
        AssertOnlyThatSessionEnded(be, sock, "shrank the file of the dirty log");
    }

    /// <summary>Descriptor 0 of the split ring at <paramref name="ringAt"/> (desc table there,
    /// avail ring 4 KiB above) made available, pointing at <paramref name="len"/> bytes at
    /// guest-physical <paramref name="buffer"/>; written through the file, index last.</summary>
    private static void QueueBuffer(int memfd, ulong ringAt, ulong buffer, uint len, bool deviceWrites)
    {
        using var file = new Microsoft.Win32.SafeHandles.SafeFileHandle(memfd, ownsHandle: false);
        var desc = new byte[16];
        BitConverter.TryWriteBytes(desc.AsSpan(0), buffer);
        BitConverter.TryWriteBytes(desc.AsSpan(8), len);
        BitConverter.TryWriteBytes(desc.AsSpan(12), (ushort)(deviceWrites ? 2 : 0)); // VRING_DESC_F_WRITE
        RandomAccess.Write(file, desc, (long)ringAt);
        RandomAccess.Write(file, new byte[2], (long)ringAt + 0x1000 + 4); // avail.ring[0] = 0
        RandomAccess.Write(file, BitConverter.GetBytes((ushort)1), (long)ringAt + 0x1000 + 2); // avail.idx = 1
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

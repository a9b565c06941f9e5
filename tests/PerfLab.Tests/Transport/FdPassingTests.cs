using Mono.Unix.Native;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;
using Xunit;

namespace PerfLab.Tests.Transport;

public class FdPassingTests
{
    [Fact]
    public void OneEventfdSentArrivesAsExactlyOneWorkingFd()
    {
        var (a, b) = UnixSocket.Pair();
        using var tx = new MessageChannel(a);
        using var rx = new MessageChannel(b) { ReceiveTimeoutMs = 5000 };
        int efd = EventFd.Create();
        try
        {
            tx.Send(VhostUserRequest.SetVringKick, VhostUserFlags.Version1, new VhostUserU64(1), [efd]);
            var msg = new ReceivedMessage();
            Assert.True(rx.Receive(msg));
            Assert.Equal(VhostUserRequest.SetVringKick, msg.Header.Request);
            Assert.Single(msg.Fds);
            int got = msg.Fds[0];
            Assert.NotEqual(efd, got);
            // The received fd is the same eventfd: a write on one is read on the other.
            Assert.True(EventFd.Signal(efd));
            Assert.Equal(1ul, EventFd.Drain(got));
            // And it is close-on-exec (MSG_CMSG_CLOEXEC).
            Assert.Equal(LibC.FD_CLOEXEC, LibC.fcntl(got, LibC.F_GETFD, 0) & LibC.FD_CLOEXEC);
            msg.CloseFds();
        }
        finally
        {
            LibC.close(efd);
        }
    }

    [Fact]
    public void SeveralMemfdsArriveInOrderWithTheHeader()
    {
        var (a, b) = UnixSocket.Pair();
        using var tx = new MessageChannel(a);
        using var rx = new MessageChannel(b) { ReceiveTimeoutMs = 5000 };
        var fds = Enumerable.Range(0, 8).Select(i =>
        {
            int fd = LibC.memfd_create($"t{i}", LibC.MFD_CLOEXEC);
            LibC.ftruncate(fd, 4096 * (i + 1));
            return fd;
        }).ToArray();
        try
        {
            tx.SendRaw(VhostUserRequest.SetMemTable, VhostUserFlags.Version1, new byte[8 + 32 * 8], fds);
            var msg = new ReceivedMessage();
            Assert.True(rx.Receive(msg));
            Assert.Equal(8, msg.Fds.Count);
            for (int i = 0; i < 8; i++)
            {
                Assert.Equal(0, Syscall.fstat(msg.Fds[i], out Stat st));
                Assert.Equal(4096 * (i + 1), st.st_size);
            }
            msg.CloseFds();
        }
        finally
        {
            foreach (int fd in fds)
            {
                LibC.close(fd);
            }
        }
    }

    [Fact]
    public void PayloadLargerThanOneReadIsReassembled()
    {
        var (a, b) = UnixSocket.Pair();
        using var tx = new MessageChannel(a);
        using var rx = new MessageChannel(b) { ReceiveTimeoutMs = 5000 };
        var payload = Enumerable.Range(0, 4096).Select(i => (byte)i).ToArray();
        tx.SendRaw(VhostUserRequest.SetMemTable, VhostUserFlags.Version1, payload);
        var msg = new ReceivedMessage();
        Assert.True(rx.Receive(msg));
        Assert.Equal(payload, msg.PayloadSpan.ToArray());
    }

    [Fact]
    public void CleanEofAtAMessageBoundaryIsNotAnError()
    {
        var (a, b) = UnixSocket.Pair();
        using var rx = new MessageChannel(b) { ReceiveTimeoutMs = 5000 };
        LibC.close(a);
        Assert.False(rx.Receive(new ReceivedMessage()));
    }

    [Fact]
    public void EofMidMessageIsAnIoErrorNotAHang()
    {
        var (a, b) = UnixSocket.Pair();
        using var rx = new MessageChannel(b) { ReceiveTimeoutMs = 5000, MidMessageTimeoutMs = 2000 };
        using (var tx = new MessageChannel(a))
        {
            tx.Send(new byte[] { 8, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 1, 2 }); // header + 2 of 8 payload bytes
        }
        var e = Assert.Throws<IOException>(() => rx.Receive(new ReceivedMessage()));
        Assert.Contains("mid-message", e.Message);
    }

    [Fact]
    public void StalledPeerMidMessageTimesOut()
    {
        var (a, b) = UnixSocket.Pair();
        using var tx = new MessageChannel(a);
        using var rx = new MessageChannel(b) { ReceiveTimeoutMs = 5000, MidMessageTimeoutMs = 300 };
        tx.Send(new byte[] { 8, 0, 0, 0, 1, 0, 0, 0 }); // 8 of 12 header bytes, then silence
        var e = Assert.Throws<IOException>(() => rx.Receive(new ReceivedMessage()));
        Assert.Contains("stalled", e.Message);
    }

    [Fact]
    public void ListenerCreatesSocketWithMode0600AndReplacesOnlyAStaleOne()
    {
        using var dir = new Infrastructure.TempDir();
        string path = dir.File("s.sock");
        int l1 = UnixSocket.Listen(path);
        try
        {
            Assert.Equal(0, Syscall.stat(path, out Stat st));
            Assert.Equal(FilePermissions.S_IRUSR | FilePermissions.S_IWUSR, st.st_mode & (FilePermissions)0x1FF);
            var e = Assert.Throws<IOException>(() => UnixSocket.Listen(path));
            Assert.Contains("in use", e.Message);
        }
        finally
        {
            LibC.close(l1);
        }
        // Nothing listens any more: the stale file is replaced.
        int l2 = UnixSocket.Listen(path);
        LibC.close(l2);
        File.WriteAllText(dir.File("plain"), "x");
        Assert.Throws<IOException>(() => UnixSocket.Listen(dir.File("plain")));
    }
}

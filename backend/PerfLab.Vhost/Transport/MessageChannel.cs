using System.Runtime.InteropServices;
using Mono.Unix.Native;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;

namespace PerfLab.Vhost.Transport;

/// <summary>One received message: header, payload bytes and the fds that came with it.</summary>
public sealed class ReceivedMessage
{
    public VhostUserHeader Header;
    public readonly byte[] Payload = new byte[VhostUserHeader.MaxPayload];
    public int PayloadLength;
    public readonly List<int> Fds = new(MessageCodec.MaxFds);

    public ReadOnlySpan<byte> PayloadSpan => Payload.AsSpan(0, PayloadLength);

    /// <summary>Takes ownership of fd <paramref name="i"/>: the message will no longer close it.</summary>
    public int TakeFd(int i)
    {
        int fd = Fds[i];
        Fds[i] = -1;
        return fd;
    }

    /// <summary>Closes every fd not taken.</summary>
    public void CloseFds()
    {
        foreach (int fd in Fds)
        {
            LibC.CloseQuietly(fd);
        }
        Fds.Clear();
    }
}

/// <summary>Where a handler's replies go: the socket, or a recorder in tests and fuzzing.</summary>
public interface IMessageSender
{
    void SendRaw(VhostUserRequest request, VhostUserFlags flags, ReadOnlySpan<byte> payload, ReadOnlySpan<int> fds = default);
}

/// <summary>
/// A vhost-user endpoint over a connected AF_UNIX stream socket. The 12-byte header is read
/// with recvmsg so that the fds attached to it arrive (a plain read would make the kernel drop
/// them); the payload is then read exactly. Once a message has started, every further wait is
/// bounded by <see cref="MidMessageTimeoutMs"/>, so a peer that stops mid-message cannot hang
/// us. Control plane: this allocates per call (Mono's managed Msghdr) and may throw.
/// </summary>
public sealed class MessageChannel : IMessageSender, IDisposable
{
    private const int MaxReceiveFds = 32;
    private readonly byte[] _header = GC.AllocateArray<byte>(VhostUserHeader.Size, pinned: true);
    private readonly byte[] _control = new byte[(int)Syscall.CMSG_SPACE(MaxReceiveFds * sizeof(int))];
    private int _fd;

    public MessageChannel(int connectedFd)
    {
        _fd = connectedFd;
    }

    public int Fd => _fd;

    /// <summary>Bound on waiting for the rest of a message once it started (ms).</summary>
    public int MidMessageTimeoutMs { get; set; } = 5000;

    /// <summary>Bound on waiting for a reply or the first byte of a message; -1 waits forever.</summary>
    public int ReceiveTimeoutMs { get; set; } = -1;

    /// <summary>Bound on waiting for the peer to make room for what we send (a peer that does not
    /// read); -1 waits forever. A send that times out throws <see cref="IOException"/>.</summary>
    public int SendTimeoutMs
    {
        get => _sendTimeoutMs;
        set
        {
            _sendTimeoutMs = value;
            LibC.SetSendTimeout(_fd, value);
        }
    }

    private int _sendTimeoutMs = -1;

    /// <summary>
    /// Receives one message into <paramref name="msg"/>. Returns false on a clean EOF at a message
    /// boundary. Throws <see cref="VhostProtocolException"/> for a malformed header,
    /// <see cref="IOException"/> for EOF mid-message, timeouts and socket errors. Payload size is
    /// bounded by <see cref="VhostUserHeader.MaxPayload"/> before anything is read.
    /// </summary>
    public unsafe bool Receive(ReceivedMessage msg, bool expectReply = false, VhostUserRequest expectedReply = VhostUserRequest.None)
    {
        msg.CloseFds();
        msg.PayloadLength = 0;
        if (ReceiveTimeoutMs >= 0 && !WaitReadable(ReceiveTimeoutMs))
        {
            throw new TimeoutException($"no message within {ReceiveTimeoutMs} ms");
        }
        long got;
        bool truncated;
        fixed (byte* hp = _header)
        {
            var iov = new[] { new Iovec { iov_base = (IntPtr)hp, iov_len = VhostUserHeader.Size } };
            var mh = new Msghdr { msg_iov = iov, msg_iovlen = 1, msg_control = _control, msg_controllen = _control.Length };
            do
            {
                got = Syscall.recvmsg(_fd, mh, MessageFlags.MSG_CMSG_CLOEXEC);
            }
            while (got < 0 && Stdlib.GetLastError() == Errno.EINTR);
            if (got < 0)
            {
                throw new IOException($"recvmsg failed: {Stdlib.GetLastError()}");
            }
            CollectFds(mh, msg.Fds);
            truncated = (mh.msg_flags & MessageFlags.MSG_CTRUNC) != 0;
        }
        if (got == 0 && !truncated)
        {
            msg.CloseFds();
            return false;
        }
        if (got < VhostUserHeader.Size)
        {
            ReadExactly(_header.AsSpan((int)got), (int)got, VhostUserHeader.Size, "header");
        }
        msg.Header = MessageCodec.ReadHeader(_header);
        if (truncated)
        {
            // The kernel closed what did not fit; the rest were collected and are closed by the caller.
            throw new VhostProtocolException(msg.Header.Request, "fds", $"more than {MaxReceiveFds}", "control data truncated (MSG_CTRUNC)");
        }
        if (expectReply)
        {
            MessageCodec.ValidateReplyHeader(msg.Header, expectedReply);
        }
        else
        {
            MessageCodec.ValidateRequestHeader(msg.Header);
        }
        int len = (int)msg.Header.PayloadSize;
        if (len > 0)
        {
            ReadExactly(msg.Payload.AsSpan(0, len), 0, len, $"{RequestNames.Of(msg.Header.Request)} payload");
        }
        msg.PayloadLength = len;
        return true;
    }

    /// <summary>Sends one message with optional fds in a single sendmsg.</summary>
    public unsafe void Send(ReadOnlySpan<byte> message, ReadOnlySpan<int> fds = default)
    {
        byte[] buf = message.ToArray();
        fixed (byte* bp = buf)
        {
            var iov = new[] { new Iovec { iov_base = (IntPtr)bp, iov_len = (ulong)buf.Length } };
            var mh = new Msghdr { msg_iov = iov, msg_iovlen = 1 };
            if (fds.Length > 0)
            {
                int dataLen = fds.Length * sizeof(int);
                mh.msg_control = new byte[(int)Syscall.CMSG_SPACE((ulong)dataLen)];
                mh.msg_controllen = mh.msg_control.Length;
                var cmsg = new Cmsghdr
                {
                    cmsg_len = (long)Syscall.CMSG_LEN((ulong)dataLen),
                    cmsg_level = UnixSocketProtocol.SOL_SOCKET,
                    cmsg_type = UnixSocketControlMessage.SCM_RIGHTS,
                };
                long offset = Syscall.CMSG_FIRSTHDR(mh);
                cmsg.WriteToBuffer(mh, offset);
                long data = Syscall.CMSG_DATA(mh, offset);
                for (int i = 0; i < fds.Length; i++)
                {
                    BitConverter.TryWriteBytes(mh.msg_control.AsSpan((int)data + i * sizeof(int)), fds[i]);
                }
            }
            long sent = 0;
            while (true)
            {
                long n = Syscall.sendmsg(_fd, mh, MessageFlags.MSG_NOSIGNAL);
                if (n < 0 && Stdlib.GetLastError() == Errno.EINTR)
                {
                    continue;
                }
                if (n < 0)
                {
                    throw SendFailed($"sendmsg failed: {Stdlib.GetLastError()}", Stdlib.GetLastError() == Errno.EAGAIN);
                }
                sent = n;
                break;
            }
            // fds went with the first byte; any remainder is plain data.
            while (sent < buf.Length)
            {
                nint n = LibC.write(_fd, bp + sent, (nint)(buf.Length - sent));
                if (n < 0 && LibC.Errno == LibC.EINTR)
                {
                    continue;
                }
                if (n <= 0)
                {
                    throw SendFailed($"write failed: errno {LibC.Errno}", LibC.Errno == LibC.EAGAIN);
                }
                sent += n;
            }
        }
    }

    /// <summary>Sends a header-only message or a header + struct payload.</summary>
    public void Send<T>(VhostUserRequest request, VhostUserFlags flags, in T payload, ReadOnlySpan<int> fds = default) where T : unmanaged
    {
        Span<byte> buf = stackalloc byte[VhostUserHeader.Size + System.Runtime.CompilerServices.Unsafe.SizeOf<T>()];
        int n = MessageCodec.Write(buf, request, flags, in payload);
        Send(buf[..n], fds);
    }

    public void SendRaw(VhostUserRequest request, VhostUserFlags flags, ReadOnlySpan<byte> payload, ReadOnlySpan<int> fds = default)
    {
        byte[] buf = new byte[VhostUserHeader.Size + payload.Length];
        MessageCodec.Write(buf, request, flags, payload);
        Send(buf, fds);
    }

    private IOException SendFailed(string what, bool timedOut) => timedOut
        ? new IOException($"the peer did not read what we sent for {_sendTimeoutMs} ms (send timeout)")
        : new IOException(what);

    private static void CollectFds(Msghdr mh, List<int> fds)
    {
        if (mh.msg_controllen <= 0)
        {
            return;
        }
        for (long off = Syscall.CMSG_FIRSTHDR(mh); off != -1; off = Syscall.CMSG_NXTHDR(mh, off))
        {
            var c = Cmsghdr.ReadFromBuffer(mh, off);
            long data = Syscall.CMSG_DATA(mh, off);
            long dataLen = c.cmsg_len - (data - off);
            if (c.cmsg_level == UnixSocketProtocol.SOL_SOCKET && c.cmsg_type == UnixSocketControlMessage.SCM_RIGHTS)
            {
                for (long i = 0; i + sizeof(int) <= dataLen; i += sizeof(int))
                {
                    fds.Add(BitConverter.ToInt32(mh.msg_control, (int)(data + i)));
                }
            }
        }
    }

    /// <summary>Reads the rest of <paramref name="what"/> (bytes <paramref name="already"/>..
    /// <paramref name="total"/>); errors name it and count its bytes.</summary>
    private unsafe void ReadExactly(Span<byte> dst, int already, int total, string what)
    {
        fixed (byte* p = dst)
        {
            int done = 0;
            while (done < dst.Length)
            {
                if (!WaitReadable(MidMessageTimeoutMs))
                {
                    throw new IOException($"{what}: peer sent {already + done} of {total} bytes and stalled for {MidMessageTimeoutMs} ms");
                }
                nint n = LibC.read(_fd, p + done, dst.Length - done);
                if (n < 0 && LibC.Errno == LibC.EINTR)
                {
                    continue;
                }
                if (n < 0)
                {
                    throw new IOException($"{what}: read failed: errno {LibC.Errno}");
                }
                if (n == 0)
                {
                    throw new IOException($"{what}: peer closed mid-message after {already + done} of {total} bytes");
                }
                done += (int)n;
            }
        }
    }

    private bool WaitReadable(int timeoutMs)
    {
        var pfd = new[] { new Pollfd { fd = _fd, events = PollEvents.POLLIN } };
        while (true)
        {
            int n = Syscall.poll(pfd, timeoutMs);
            if (n < 0 && Stdlib.GetLastError() == Errno.EINTR)
            {
                continue;
            }
            return n > 0;
        }
    }

    /// <summary>Wakes a thread blocked in <see cref="Receive"/> (it sees EOF).</summary>
    public void Shutdown() => UnixSocket.Shutdown(_fd);

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        LibC.CloseQuietly(fd);
    }
}

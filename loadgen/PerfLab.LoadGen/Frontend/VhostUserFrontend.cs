using System.Runtime.InteropServices;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;

namespace PerfLab.LoadGen.Frontend;

/// <summary>
/// The front-end side of vhost-user (what QEMU does): one method per request, replies read
/// and checked (flags exactly 0x5, same request code). With REPLY_ACK negotiated, requests
/// that QEMU waits for carry NEED_REPLY and a non-zero ack is an error; without it, QEMU's
/// fallback (a GET_FEATURES round trip) is used. Control plane: may allocate and throw.
/// </summary>
public sealed class VhostUserFrontend : IDisposable
{
    private readonly MessageChannel _ch;
    private readonly ReceivedMessage _reply = new();

    private VhostUserFrontend(int fd, int replyTimeoutMs)
    {
        _ch = new MessageChannel(fd) { ReceiveTimeoutMs = replyTimeoutMs };
    }

    public ulong BackendFeatures { get; private set; }
    public ulong BackendProtocolFeatures { get; private set; }
    public ulong AckedProtocolFeatures { get; private set; }

    /// <summary>Requests sent on this connection (for tests and the handshake trace).</summary>
    public List<VhostUserRequest> Sent { get; } = [];

    public bool ReplyAck => (AckedProtocolFeatures & ProtocolFeatures.ReplyAck) != 0;

    public int Fd => _ch.Fd;

    /// <summary>Connects to a back-end that listens, retrying until <paramref name="timeout"/>.</summary>
    public static VhostUserFrontend Connect(string path, TimeSpan timeout, int replyTimeoutMs = 5000)
    {
        int fd = UnixSocket.Connect(path, timeout, TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(200));
        return new VhostUserFrontend(fd, replyTimeoutMs);
    }

    /// <summary>Listens at <paramref name="path"/> and accepts one back-end (back-end client mode).</summary>
    public static VhostUserFrontend Accept(string path, TimeSpan timeout, int replyTimeoutMs = 5000)
    {
        int lfd = UnixSocket.Listen(path);
        try
        {
            int fd = UnixSocket.Accept(lfd, -1, (int)timeout.TotalMilliseconds);
            if (fd < 0)
            {
                throw new TimeoutException($"no back-end connected to {path} within {timeout.TotalSeconds:F0} s");
            }
            return new VhostUserFrontend(fd, replyTimeoutMs);
        }
        finally
        {
            LibC.CloseQuietly(lfd);
            File.Delete(path);
        }
    }

    /// <summary>Wraps an already connected socket (tests use a socketpair).</summary>
    public static VhostUserFrontend FromFd(int fd, int replyTimeoutMs = 5000) => new(fd, replyTimeoutMs);

    // ---- requests ----------------------------------------------------------------------

    public ulong GetFeatures() => BackendFeatures = GetU64(VhostUserRequest.GetFeatures);

    /// <summary>SET_FEATURES; QEMU waits for it (<paramref name="waitAck"/>) when it toggles
    /// LOG_ALL for migration.</summary>
    public void SetFeatures(ulong f, bool waitAck = false) => SendU64(VhostUserRequest.SetFeatures, f, needReply: waitAck);

    public void SetOwner() => SendEmpty(VhostUserRequest.SetOwner, needReply: false);

    public ulong GetProtocolFeatures() => BackendProtocolFeatures = GetU64(VhostUserRequest.GetProtocolFeatures);

    public void SetProtocolFeatures(ulong f)
    {
        SendU64(VhostUserRequest.SetProtocolFeatures, f, needReply: false);
        AckedProtocolFeatures = f;
    }

    public ulong GetQueueNum() => GetU64(VhostUserRequest.GetQueueNum);

    public ulong GetMaxMemSlots() => GetU64(VhostUserRequest.GetMaxMemSlots);

    public ulong GetStatus() => GetU64(VhostUserRequest.GetStatus);

    public void SetStatus(ulong status) => SendU64(VhostUserRequest.SetStatus, status, needReply: ReplyAck);

    public void SetBackendReqFd(int fd) => Send(VhostUserRequest.SetBackendReqFd, ReadOnlySpan<byte>.Empty, [fd], needReply: true);

    public void SetMemTable(IReadOnlyList<MemoryRegionDesc> regions, IReadOnlyList<int> fds)
    {
        var payload = new byte[MemoryTableHeader.Size + 32 * regions.Count];
        MemoryMarshal.Write(payload, new MemoryTableHeader { NumRegions = (uint)regions.Count });
        for (int i = 0; i < regions.Count; i++)
        {
            MemoryMarshal.Write(payload.AsSpan(MemoryTableHeader.Size + 32 * i), regions[i]);
        }
        Send(VhostUserRequest.SetMemTable, payload, fds.ToArray(), needReply: true);
    }

    public void AddMemReg(MemoryRegionDesc region, int fd) =>
        SendStruct(VhostUserRequest.AddMemReg, new SingleMemRegion { Region = region }, [fd], needReply: true);

    public void RemMemReg(MemoryRegionDesc region) =>
        SendStruct(VhostUserRequest.RemMemReg, new SingleMemRegion { Region = region }, [], needReply: true);

    /// <summary>SET_LOG_BASE (LOG_SHMFD): hands over the dirty bitmap; the back-end replies
    /// once it is mapped (QEMU waits for that reply and checks only its request code).</summary>
    public void SetLogBase(ulong mmapSize, ulong mmapOffset, int fd)
    {
        var payload = new byte[16];
        MemoryMarshal.Write(payload, new LogDesc { MmapSize = mmapSize, MmapOffset = mmapOffset });
        SendRaw(VhostUserRequest.SetLogBase, VhostUserFlags.Version1, payload, [fd]);
        ReadReply(VhostUserRequest.SetLogBase);
    }

    public void SetLogFd(int fd) => Send(VhostUserRequest.SetLogFd, ReadOnlySpan<byte>.Empty, [fd], needReply: false);

    /// <summary>SEND_RARP: the back-end announces <paramref name="mac"/> (6 bytes).</summary>
    public void SendRarp(ReadOnlySpan<byte> mac)
    {
        Span<byte> v = stackalloc byte[8];
        v.Clear();
        mac[..6].CopyTo(v);
        SendU64(VhostUserRequest.SendRarp, MemoryMarshal.Read<ulong>(v), needReply: false);
    }

    /// <summary>NET_SET_MTU: QEMU sends it at DRIVER_OK and waits for the ack.</summary>
    public void NetSetMtu(ulong mtu) => SendU64(VhostUserRequest.NetSetMtu, mtu, needReply: true);

    public void ResetDevice() => SendEmpty(VhostUserRequest.ResetDevice, needReply: true);

    public void SetVringNum(uint index, uint num) => SendStruct(VhostUserRequest.SetVringNum, new VringState(index, num), [], needReply: false);

    public void SetVringBase(uint index, uint num) => SendStruct(VhostUserRequest.SetVringBase, new VringState(index, num), [], needReply: false);

    public void SetVringAddr(VringAddr addr) => SendStruct(VhostUserRequest.SetVringAddr, addr, [], needReply: false);

    public void SetVringKick(uint index, int fd) => SendVringFd(VhostUserRequest.SetVringKick, index, fd);

    public void SetVringCall(uint index, int fd) => SendVringFd(VhostUserRequest.SetVringCall, index, fd);

    public void SetVringErr(uint index, int fd) => SendVringFd(VhostUserRequest.SetVringErr, index, fd);

    public void SetVringEnable(uint index, bool enable) =>
        SendStruct(VhostUserRequest.SetVringEnable, new VringState(index, enable ? 1u : 0u), [], needReply: true);

    public uint GetVringBase(uint index)
    {
        Span<byte> buf = stackalloc byte[8];
        MemoryMarshal.Write(buf, new VringState(index, 0));
        SendRaw(VhostUserRequest.GetVringBase, VhostUserFlags.Version1, buf, []);
        ReadReply(VhostUserRequest.GetVringBase);
        return MessageCodec.ReadPayload<VringState>(VhostUserRequest.GetVringBase, _reply.PayloadSpan).Num;
    }

    /// <summary>Sends a ring fd, or NOFD when <paramref name="fd"/> is negative.</summary>
    private void SendVringFd(VhostUserRequest r, uint index, int fd)
    {
        ulong v = index | (fd < 0 ? VringFile.NoFdFlag : 0);
        Span<byte> buf = stackalloc byte[8];
        MemoryMarshal.Write(buf, v);
        Send(r, buf, fd < 0 ? [] : [fd], needReply: false);
    }

    // ---- plumbing ----------------------------------------------------------------------

    private ulong GetU64(VhostUserRequest r)
    {
        SendRaw(r, VhostUserFlags.Version1, [], []);
        ReadReply(r);
        return MessageCodec.ReadPayload<VhostUserU64>(r, _reply.PayloadSpan).Value;
    }

    private void SendU64(VhostUserRequest r, ulong v, bool needReply)
    {
        Span<byte> buf = stackalloc byte[8];
        MemoryMarshal.Write(buf, v);
        Send(r, buf, [], needReply);
    }

    private void SendEmpty(VhostUserRequest r, bool needReply) => Send(r, [], [], needReply);

    private void SendStruct<T>(VhostUserRequest r, T payload, int[] fds, bool needReply) where T : unmanaged
    {
        var buf = new byte[Marshal.SizeOf<T>()];
        MemoryMarshal.Write(buf, in payload);
        Send(r, buf, fds, needReply);
    }

    /// <summary>
    /// Sends a request. When the front-end waits for it (<paramref name="needReply"/>): with
    /// REPLY_ACK, NEED_REPLY is set and the ack must be 0; without, a GET_FEATURES round trip
    /// makes sure the back-end has processed it (QEMU's fallback).
    /// </summary>
    public void Send(VhostUserRequest r, ReadOnlySpan<byte> payload, int[] fds, bool needReply)
    {
        bool ack = needReply && ReplyAck;
        SendRaw(r, VhostUserFlags.Version1 | (ack ? VhostUserFlags.NeedReply : 0), payload, fds);
        if (ack)
        {
            ReadReply(r);
            ulong status = MessageCodec.ReadPayload<VhostUserU64>(r, _reply.PayloadSpan).Value;
            if (status != 0)
            {
                throw new VhostProtocolException(r, "reply-ack", status, "back-end refused the request");
            }
        }
        else if (needReply)
        {
            GetU64(VhostUserRequest.GetFeatures);
        }
    }

    /// <summary>Sends exactly these bytes (hostile tests use this to send anything at all).</summary>
    public void SendRaw(VhostUserRequest r, VhostUserFlags flags, ReadOnlySpan<byte> payload, int[] fds)
    {
        Sent.Add(r);
        _ch.SendRaw(r, flags, payload, fds);
    }

    /// <summary>Sends a request that has a reply of its own and returns the reply's payload
    /// and the fds it carried (the caller owns them).</summary>
    public (byte[] Payload, int[] Fds) Request(VhostUserRequest r, ReadOnlySpan<byte> payload, int[] fds)
    {
        SendRaw(r, VhostUserFlags.Version1, payload, fds);
        if (!_ch.Receive(_reply, expectReply: true, expectedReply: r))
        {
            throw new IOException($"back-end closed the connection instead of replying to {RequestNames.Of(r)}");
        }
        int[] got = new int[_reply.Fds.Count];
        for (int i = 0; i < got.Length; i++)
        {
            got[i] = _reply.TakeFd(i);
        }
        _reply.CloseFds();
        return (_reply.PayloadSpan.ToArray(), got);
    }

    /// <summary>Sends arbitrary bytes with optional fds, unframed (hostile tests).</summary>
    public void SendBytes(ReadOnlySpan<byte> bytes, int[] fds) => _ch.Send(bytes, fds);

    private void ReadReply(VhostUserRequest r)
    {
        if (!_ch.Receive(_reply, expectReply: true, expectedReply: r))
        {
            throw new IOException($"back-end closed the connection instead of replying to {RequestNames.Of(r)}");
        }
        _reply.CloseFds();
    }

    /// <summary>True if the back-end has closed the connection (reads EOF without blocking long).</summary>
    public bool PeerClosed(int waitMs = 0)
    {
        int saved = _ch.ReceiveTimeoutMs;
        try
        {
            _ch.ReceiveTimeoutMs = waitMs;
            return !_ch.Receive(_reply);
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (Exception e) when (e is IOException or VhostProtocolException)
        {
            return true;
        }
        finally
        {
            _ch.ReceiveTimeoutMs = saved;
            _reply.CloseFds();
        }
    }

    public void Dispose() => _ch.Dispose();
}

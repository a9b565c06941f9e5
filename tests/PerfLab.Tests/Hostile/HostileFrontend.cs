using System.Runtime.InteropServices;
using Mono.Unix.Native;
using PerfLab.LoadGen.Frontend;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;
using Xunit;

namespace PerfLab.Tests.Hostile;

/// <summary>
/// A front-end that sends whatever a case asks, with any fds: a <see cref="VhostUserFrontend"/>
/// for the well-formed parts, raw bytes for the rest. Every fd it creates (memory files,
/// eventfds, sockets, pipes) is its own and closed on dispose, so the case's leak check sees
/// only what the back-end kept.
/// </summary>
public sealed class HostileFrontend : IDisposable
{
    /// <summary>Protocol features a case asks for by default (REPLY_ACK: refusals are acked).</summary>
    public const ulong DefaultProtocol = ProtocolFeatures.ReplyAck | ProtocolFeatures.Mq | ProtocolFeatures.Status;

    private readonly List<int> _fds = [];

    public HostileFrontend(string socket)
    {
        Fe = VhostUserFrontend.Connect(socket, Timeouts.Short);
    }

    public VhostUserFrontend Fe { get; }

    // ---- handshake --------------------------------------------------------------------------

    /// <summary>GET_FEATURES, protocol features (offered ∩ <paramref name="protocol"/>),
    /// SET_OWNER and SET_FEATURES (VERSION_1, PROTOCOL_FEATURES, plus <paramref name="extra"/>).</summary>
    public void Hello(ulong protocol = DefaultProtocol, ulong extra = 0)
    {
        ulong offered = Fe.GetFeatures();
        Fe.SetProtocolFeatures(Fe.GetProtocolFeatures() & protocol);
        Fe.SetOwner();
        Fe.SetFeatures(offered & (VirtioFeatures.Version1 | VirtioFeatures.ProtocolFeatures | extra));
    }

    /// <summary>A memory file of <paramref name="size"/> bytes mapped as one region at
    /// guest-physical <paramref name="gpa"/>, front-end address <paramref name="fva"/>.</summary>
    public (MemoryRegionDesc Region, int Fd) Region(ulong size, ulong gpa = 0x1_0000_0000, ulong fva = 0x7f00_0000_0000)
    {
        int fd = Memfd(size);
        return (new MemoryRegionDesc(gpa, size, fva, 0), fd);
    }

    /// <summary>Hello, one 1 MiB region, and ring <paramref name="ring"/> of size 256 inside it
    /// (desc at 0, avail at 0x1000, used at 0x2000), its kick fd set: the ring runs.</summary>
    public void RunningRing(uint ring = 1, ulong extra = 0)
    {
        Hello(extra: extra);
        var (r, fd) = Region(1 << 20);
        Fe.SetMemTable([r], [fd]);
        Fe.SetVringNum(ring, 256);
        Fe.SetVringBase(ring, (extra & VirtioFeatures.RingPacked) != 0 ? 0x8000_8000 : 0);
        Fe.SetVringAddr(RingAddr(ring, r.UserspaceAddr));
        Fe.SetVringKick(ring, EventFd());
    }

    public static VringAddr RingAddr(uint ring, ulong fva) => new()
    {
        Index = ring,
        DescUserAddr = fva,
        AvailUserAddr = fva + 0x1000,
        UsedUserAddr = fva + 0x2000,
    };

    // ---- fds ---------------------------------------------------------------------------------

    public int Memfd(ulong size, string name = "perflab-hostile")
    {
        int fd = LibC.memfd_create(name, LibC.MFD_CLOEXEC);
        Assert.True(fd >= 0, $"memfd_create: errno {LibC.Errno}");
        Assert.Equal(0, LibC.ftruncate(fd, (long)size));
        return Own(fd);
    }

    public int EventFd(bool nonBlocking = true) => Own(Vhost.Interop.EventFd.Create(nonBlocking));

    public (int A, int B) SocketPair(UnixSocketType type = UnixSocketType.SOCK_STREAM)
    {
        Assert.Equal(0, Syscall.socketpair(UnixAddressFamily.AF_UNIX, type, UnixSocketFlags.SOCK_CLOEXEC, 0, out int a, out int b));
        return (Own(a), Own(b));
    }

    public (int Read, int Write) Pipe()
    {
        Assert.Equal(0, Syscall.pipe(out int r, out int w));
        return (Own(r), Own(w));
    }

    /// <summary>The same file as <paramref name="fd"/>, opened read-only.</summary>
    public int ReadOnly(int fd) => Own(Syscall.open($"/proc/self/fd/{fd}", OpenFlags.O_RDONLY | OpenFlags.O_CLOEXEC));

    public int Own(int fd)
    {
        Assert.True(fd >= 0);
        _fds.Add(fd);
        return fd;
    }

    // ---- sending -----------------------------------------------------------------------------

    /// <summary>Sends one message, exactly as given, without waiting for anything.</summary>
    public void Raw(VhostUserRequest r, ReadOnlySpan<byte> payload, int[]? fds = null, VhostUserFlags flags = VhostUserFlags.Version1) =>
        Fe.SendRaw(r, flags, payload, fds ?? []);

    /// <summary>Sends with NEED_REPLY and asserts a failure ack (a non-zero u64).</summary>
    public void Refused(VhostUserRequest r, byte[] payload, int[]? fds = null)
    {
        Assert.True(Fe.ReplyAck, "the case needs REPLY_ACK");
        var e = Assert.Throws<VhostProtocolException>(() => Fe.Send(r, payload, fds ?? [], needReply: true));
        Assert.Equal("reply-ack", e.Field);
    }

    /// <summary>Sends with NEED_REPLY and asserts a success ack.</summary>
    public void Acked(VhostUserRequest r, ReadOnlySpan<byte> payload, int[]? fds = null) => Fe.Send(r, payload, fds ?? [], needReply: true);

    /// <summary>True once the back-end closed the connection (EOF); false if it sent data
    /// instead or the time passed.</summary>
    public bool ClosedWithin(TimeSpan limit)
    {
        var pfd = new[] { new Pollfd { fd = Fe.Fd, events = PollEvents.POLLIN } };
        if (Syscall.poll(pfd, (int)limit.TotalMilliseconds) <= 0)
        {
            return false;
        }
        byte[] b = new byte[1];
        unsafe
        {
            fixed (byte* p = b)
            {
                long n = Syscall.recv(Fe.Fd, p, 1, MessageFlags.MSG_PEEK | MessageFlags.MSG_DONTWAIT);
                return n == 0 || (n < 0 && Stdlib.GetLastError() == Errno.ECONNRESET);
            }
        }
    }

    /// <summary>The session goes on: a GET_FEATURES round trip works.</summary>
    public void AssertAlive() => Assert.NotEqual(0UL, Fe.GetFeatures());

    // ---- payloads ------------------------------------------------------------------------------

    public static byte[] U64(ulong v) => BitConverter.GetBytes(v);

    public static byte[] Of<T>(T v) where T : unmanaged
    {
        var b = new byte[Marshal.SizeOf<T>()];
        MemoryMarshal.Write(b, in v);
        return b;
    }

    public static byte[] State(uint index, uint num) => Of(new VringState(index, num));

    public static byte[] MemTable(uint nregions, params MemoryRegionDesc[] regions)
    {
        var b = new byte[MemoryTableHeader.Size + 32 * regions.Length];
        MemoryMarshal.Write(b, new MemoryTableHeader { NumRegions = nregions });
        for (int i = 0; i < regions.Length; i++)
        {
            MemoryMarshal.Write(b.AsSpan(MemoryTableHeader.Size + 32 * i), regions[i]);
        }
        return b;
    }

    public static byte[] MemTable(params MemoryRegionDesc[] regions) => MemTable((uint)regions.Length, regions);

    public static byte[] Header(uint request, uint flags, uint size)
    {
        var b = new byte[VhostUserHeader.Size];
        BitConverter.TryWriteBytes(b.AsSpan(0), request);
        BitConverter.TryWriteBytes(b.AsSpan(4), flags);
        BitConverter.TryWriteBytes(b.AsSpan(8), size);
        return b;
    }

    public void Dispose()
    {
        Fe.Dispose();
        foreach (int fd in _fds)
        {
            LibC.CloseQuietly(fd);
        }
        _fds.Clear();
    }
}

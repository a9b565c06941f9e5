using PerfLab.LoadGen;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;
using Xunit;
using static PerfLab.Tests.Hostile.HostileFrontend;
using R = PerfLab.Vhost.Protocol.VhostUserRequest;

namespace PerfLab.Tests.Hostile;

/// <summary>How the back-end must answer a hostile front-end.</summary>
public enum Reaction
{
    /// <summary>It closes the connection (after a failure ack if NEED_REPLY was set).</summary>
    Closed,
    /// <summary>It refuses the request (failure ack) or ignores what was wrong, and the session goes on.</summary>
    Continues,
    /// <summary>The case checks the reaction itself (lifecycle cases).</summary>
    Own,
}

/// <summary>
/// A hostile front-end, case by case: framing, fds, memory tables, ring requests, features,
/// order, lifecycle. Each case sends its bytes and fds; the back-end must react as the table
/// says (close, or refuse and go on) with one log line naming request, field, value and limit,
/// and then serve a good session with nothing leaked (<see cref="CaseRunner"/>).
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class HostileMessageTests(HostileBackend backend)
{
    public sealed record Case(string Name, Reaction Expect, string[]? Log, Action<Ctx> Act, int Sessions = 1);

    /// <summary>A case's connections: <see cref="Main"/> is opened on first use; more with <see cref="Open"/>.</summary>
    public sealed class Ctx(string socket) : IDisposable
    {
        private readonly List<HostileFrontend> _open = [];
        private HostileFrontend? _main;

        public string Socket => socket;

        public HostileFrontend Main => _main ??= Open();

        public bool HasMain => _main != null;

        public HostileFrontend Open()
        {
            var f = new HostileFrontend(socket);
            _open.Add(f);
            return f;
        }

        public void Dispose()
        {
            foreach (HostileFrontend f in _open)
            {
                f.Dispose();
            }
        }
    }

    /// <summary>Hello, then SET_MEM_TABLE (NEED_REPLY) of one 1 MiB memory file described by
    /// <paramref name="edit"/>: the back-end must ack failure.</summary>
    private static Action<Ctx> BadRegion(Func<MemoryRegionDesc, MemoryRegionDesc> edit) => c =>
    {
        c.Main.Hello();
        var (a, fd) = c.Main.Region(MiB);
        c.Main.Refused(R.SetMemTable, MemTable(edit(a)), [fd]);
    };

    /// <summary>Hello with LOG_SHMFD, then SET_LOG_BASE of a 4 KiB memory file described by
    /// <paramref name="size"/> and <paramref name="offset"/>.</summary>
    private static Action<Ctx> LogBase(ulong size, ulong offset) => c =>
    {
        c.Main.Hello(DefaultProtocol | ProtocolFeatures.LogShmfd);
        c.Main.Raw(R.SetLogBase, Of(new LogDesc { MmapSize = size, MmapOffset = offset }), [c.Main.Memfd(4096)]);
    };

    /// <summary>Hello (with <paramref name="extra"/> features), then one raw request.</summary>
    private static Action<Ctx> AfterHello(VhostUserRequest r, byte[] payload, ulong extra = 0) => c =>
    {
        c.Main.Hello(extra: extra);
        c.Main.Raw(r, payload);
    };

    /// <summary>Ring 1 running (<see cref="HostileFrontend.RunningRing"/>), then one raw request.</summary>
    private static Action<Ctx> WhileRunning(VhostUserRequest r, byte[] payload) => c =>
    {
        c.Main.RunningRing();
        c.Main.Raw(r, payload);
    };

    private const ulong Fva = 0x7f00_0000_0000;
    private const ulong Gpa = 0x1_0000_0000;
    private const ulong MiB = 1 << 20;

    private static readonly Case[] s_cases =
    [
        // ---- framing ------------------------------------------------------------------------------
        new("truncated header, then EOF", Reaction.Own, ["header", "after 5 of 12 bytes"], c =>
        {
            c.Main.Fe.SendBytes(Header(1, 1, 0).AsSpan(0, 5), []);
            c.Main.Fe.Dispose();
        }),
        new("truncated header, then silence", Reaction.Closed, ["header", "sent 8 of 12 bytes and stalled"], c =>
            c.Main.Fe.SendBytes(Header(1, 1, 0).AsSpan(0, 8), [])),
        new("payload cut short, then EOF (close mid-message)", Reaction.Own, ["SET_MEM_TABLE payload", "after 10 of 40 bytes"], c =>
        {
            c.Main.Fe.SendBytes([.. Header(5, 1, 40), .. new byte[10]], []);
            c.Main.Fe.Dispose();
        }),
        new("size field 0xffffffff", Reaction.Closed, ["GET_FEATURES", "size=0xffffffff", "at most 4096"], c =>
            c.Main.Fe.SendBytes(Header(1, 1, 0xFFFF_FFFF), [])),
        new("size field one past the maximum", Reaction.Closed, ["SET_MEM_TABLE", "size=0x1001", "at most 4096"], c =>
            c.Main.Fe.SendBytes([.. Header(5, 1, 4097), .. new byte[4097]], [])),
        new("garbage bytes (an HTTP request)", Reaction.Closed, ["request=0x20544547", "known requests are 1..44"], c =>
            c.Main.Fe.SendBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8, [])),
        new("request code 0", Reaction.Closed, ["request=0x0", "known requests"], c =>
            c.Main.Fe.SendBytes(Header(0, 1, 0), [])),
        new("request code one past the last known", Reaction.Closed, ["request=0x2d", "known requests are 1..44"], c =>
            c.Main.Fe.SendBytes(Header(45, 1, 0), [])),
        new("known request the back-end does not serve (SET_CONFIG)", Reaction.Closed, ["SET_CONFIG", "request=0x19", "not supported"], AfterHello(R.SetConfig, new byte[12])),
        new("known request the back-end does not serve, with an fd (GPU_SET_SOCKET)", Reaction.Closed, ["GPU_SET_SOCKET", "request=0x21", "not supported"], c =>
            c.Main.Raw(R.GpuSetSocket, [], [c.Main.SocketPair().A])),
        new("version 2 in the flags", Reaction.Closed, ["GET_FEATURES", "flags.version=0x2", "must be 1"], c =>
            c.Main.Fe.SendBytes(Header(1, 2, 0), [])),
        new("REPLY flag on a request", Reaction.Closed, ["GET_FEATURES", "flags.REPLY=0x5", "must not carry the REPLY flag"], c =>
            c.Main.Fe.SendBytes(Header(1, 5, 0), [])),
        new("undefined flag bits", Reaction.Closed, ["GET_FEATURES", "flags=0x11", "only version, REPLY and NEED_REPLY"], c =>
            c.Main.Fe.SendBytes(Header(1, 0x11, 0), [])),
        new("u64 request with a 4-byte payload", Reaction.Closed, ["SET_FEATURES", "size=0x4", "must be exactly 8 bytes"], c =>
            c.Main.Raw(R.SetFeatures, new byte[4])),
        new("SET_VRING_ADDR with 20 of its 40 bytes", Reaction.Closed, ["SET_VRING_ADDR", "size=0x14", "must be exactly 40 bytes"], AfterHello(R.SetVringAddr, new byte[20])),
        new("GET_VRING_BASE with a 16-byte payload", Reaction.Closed, ["GET_VRING_BASE", "size=0x10", "must be exactly 8 bytes"], c =>
            c.Main.Raw(R.GetVringBase, new byte[16])),
        new("SET_MEM_TABLE of 9 bytes", Reaction.Closed, ["SET_MEM_TABLE", "size=0x9", "8 + 32*n"], c =>
            c.Main.Raw(R.SetMemTable, new byte[9])),

        // ---- fds ----------------------------------------------------------------------------------
        new("an fd on a request that takes none", Reaction.Closed, ["GET_FEATURES", "fds=0x1", "takes exactly 0"], c =>
            c.Main.Raw(R.GetFeatures, [], [c.Main.EventFd()])),
        new("two fds on SET_VRING_CALL", Reaction.Closed, ["SET_VRING_CALL", "fds=0x2", "takes exactly 1"], c =>
        {
            c.Main.Hello();
            c.Main.Raw(R.SetVringCall, U64(0), [c.Main.EventFd(), c.Main.EventFd()]);
        }),
        new("SET_VRING_KICK without NOFD and without an fd", Reaction.Closed, ["SET_VRING_KICK", "fds=0x0", "takes exactly 1"], AfterHello(R.SetVringKick, U64(1))),
        new("NOFD and an fd on SET_VRING_CALL", Reaction.Closed, ["SET_VRING_CALL", "fds=0x1", "takes exactly 0"], c =>
        {
            c.Main.Hello();
            c.Main.Raw(R.SetVringCall, U64(0x100), [c.Main.EventFd()]);
        }),
        new("SET_MEM_TABLE with fewer fds than regions", Reaction.Closed, ["SET_MEM_TABLE", "fds=0x1", "must equal nregions (2)"], c =>
        {
            c.Main.Hello();
            var (a, fd) = c.Main.Region(MiB);
            c.Main.Refused(R.SetMemTable, MemTable(a, a with { GuestPhysAddr = Gpa + MiB, UserspaceAddr = Fva + MiB }), [fd]);
        }),
        new("SET_MEM_TABLE with more fds than regions", Reaction.Closed, ["SET_MEM_TABLE", "fds=0x2", "must equal nregions (1)"], c =>
        {
            c.Main.Hello();
            var (a, fd) = c.Main.Region(MiB);
            c.Main.Refused(R.SetMemTable, MemTable(a), [fd, c.Main.EventFd()]);
        }),
        new("40 fds on one message (control data truncated)", Reaction.Closed, ["GET_FEATURES", "fds=more than 32", "MSG_CTRUNC"], c =>
            c.Main.Raw(R.GetFeatures, [], [.. Enumerable.Range(0, 40).Select(_ => c.Main.EventFd())])),
        new("an eventfd as a memory region", Reaction.Closed, ["SET_MEM_TABLE", "regions[0].fd=mode", "must be a memory file"], c =>
        {
            c.Main.Hello();
            c.Main.Refused(R.SetMemTable, MemTable(new MemoryRegionDesc(Gpa, MiB, Fva, 0)), [c.Main.EventFd()]);
        }),
        new("a socket as a memory region", Reaction.Closed, ["SET_MEM_TABLE", "regions[0].fd=mode 014", "must be a memory file"], c =>
        {
            c.Main.Hello();
            c.Main.Refused(R.SetMemTable, MemTable(new MemoryRegionDesc(Gpa, MiB, Fva, 0)), [c.Main.SocketPair().A]);
        }),
        new("a read-only memory file as a memory region", Reaction.Closed, ["SET_MEM_TABLE", "regions[0]=", "errno 13"], c =>
        {
            c.Main.Hello();
            var (a, fd) = c.Main.Region(MiB);
            c.Main.Refused(R.SetMemTable, MemTable(a), [c.Main.ReadOnly(fd)]);
        }),
        new("a memory file as a kick fd", Reaction.Closed, ["SET_VRING_KICK", "(vring 1)", "must be an eventfd, not /memfd:perflab-hostile"], c =>
        {
            c.Main.Hello();
            var (a, fd) = c.Main.Region(MiB);
            c.Main.Fe.SetMemTable([a], [fd]);
            // Ring 0 runs, so that ring 1 would complete the pair and be polled.
            c.Main.Fe.SetVringNum(0, 256);
            c.Main.Fe.SetVringAddr(RingAddr(0, Fva + 0x10000));
            c.Main.Fe.SetVringEnable(0, true);
            c.Main.Fe.SetVringKick(0, c.Main.EventFd());
            c.Main.Fe.SetVringNum(1, 256);
            c.Main.Fe.SetVringAddr(RingAddr(1, Fva));
            c.Main.Fe.SetVringEnable(1, true);
            c.Main.Raw(R.SetVringKick, U64(1), [c.Main.Memfd(4096)]);
        }),
        new("a socket as a call fd", Reaction.Closed, ["SET_VRING_CALL", "(vring 0)", "must be an eventfd, not socket:"], c =>
        {
            c.Main.Hello();
            c.Main.Raw(R.SetVringCall, U64(0), [c.Main.SocketPair().A]);
        }),
        new("a socket as a call fd, with NEED_REPLY: refused, and the session goes on", Reaction.Continues, ["SET_VRING_CALL", "(vring 0)", "must be an eventfd, not socket:", "replied failure"], c =>
        {
            c.Main.Hello();
            c.Main.Refused(R.SetVringCall, U64(0), [c.Main.SocketPair().A]);
        }),
        new("a pipe as an err fd", Reaction.Closed, ["SET_VRING_ERR", "(vring 1)", "must be an eventfd, not pipe:"], c =>
        {
            c.Main.Hello();
            c.Main.Raw(R.SetVringErr, U64(1), [c.Main.Pipe().Write]);
        }),
        new("a socket as the log fd", Reaction.Closed, ["SET_LOG_FD", "fd=", "must be an eventfd, not socket:"], c =>
        {
            c.Main.Hello(DefaultProtocol | ProtocolFeatures.LogShmfd);
            c.Main.Raw(R.SetLogFd, [], [c.Main.SocketPair().A]);
        }),
        new("a socket as the dirty log", Reaction.Closed, ["SET_LOG_BASE", "fd=0x", "must be a memory file, not socket:["], c =>
        {
            c.Main.Hello(DefaultProtocol | ProtocolFeatures.LogShmfd);
            c.Main.Raw(R.SetLogBase, Of(new LogDesc { MmapSize = 4096 }), [c.Main.SocketPair().A]);
        }),
        new("an eventfd as the dirty log", Reaction.Closed, ["SET_LOG_BASE", "fd=0x", "must be a memory file, not anon_inode:[eventfd]"], c =>
        {
            c.Main.Hello(DefaultProtocol | ProtocolFeatures.LogShmfd);
            c.Main.Raw(R.SetLogBase, Of(new LogDesc { MmapSize = 4096 }), [c.Main.EventFd()]);
        }),
        new("a read-only memory file as the dirty log", Reaction.Closed, ["SET_LOG_BASE", "mmap=0x1000", "mmap failed: errno 13"], c =>
        {
            c.Main.Hello(DefaultProtocol | ProtocolFeatures.LogShmfd);
            c.Main.Raw(R.SetLogBase, Of(new LogDesc { MmapSize = 4096 }), [c.Main.ReadOnly(c.Main.Memfd(4096))]);
        }),
        new("a pipe as the back-end request channel", Reaction.Closed, ["SET_BACKEND_REQ_FD", "fd=", "must be a UNIX stream socket, not pipe:["], c =>
        {
            c.Main.Hello(DefaultProtocol | ProtocolFeatures.BackendReq);
            c.Main.Raw(R.SetBackendReqFd, [], [c.Main.Pipe().Write]);
        }),
        new("a datagram socket as the back-end request channel", Reaction.Closed, ["SET_BACKEND_REQ_FD", "fd=", "not a socket of type 2"], c =>
        {
            c.Main.Hello(DefaultProtocol | ProtocolFeatures.BackendReq);
            c.Main.Raw(R.SetBackendReqFd, [], [c.Main.SocketPair(Mono.Unix.Native.UnixSocketType.SOCK_DGRAM).A]);
        }),
        new("a memory file as the back-end request channel, with NEED_REPLY: refused, and the session goes on", Reaction.Continues, ["SET_BACKEND_REQ_FD", "must be a UNIX stream socket, not /memfd:perflab-hostile", "replied failure"], c =>
        {
            c.Main.Hello(DefaultProtocol | ProtocolFeatures.BackendReq);
            c.Main.Refused(R.SetBackendReqFd, [], [c.Main.Memfd(4096)]);
        }),
        new("a stray fd on REM_MEM_REG is closed and the request served", Reaction.Continues, null, c =>
        {
            c.Main.Hello(DefaultProtocol | ProtocolFeatures.ConfigureMemSlots);
            var (a, fd) = c.Main.Region(MiB);
            c.Main.Fe.AddMemReg(a, fd);
            c.Main.Acked(R.RemMemReg, Of(new SingleMemRegion { Region = a }), [c.Main.EventFd()]);
        }),

        // ---- memory tables ------------------------------------------------------------------------
        new("zero regions", Reaction.Closed, ["SET_MEM_TABLE", "nregions=0x0", "must be 1..8"], c =>
        {
            c.Main.Hello();
            c.Main.Refused(R.SetMemTable, MemTable());
        }),
        new("nine regions in SET_MEM_TABLE", Reaction.Closed, ["SET_MEM_TABLE", "size=0x128", "n <= 8"], c =>
        {
            c.Main.Hello();
            var regions = Enumerable.Range(0, 9).Select(i => new MemoryRegionDesc(Gpa + (ulong)i * MiB, MiB, Fva + (ulong)i * MiB, 0)).ToArray();
            c.Main.Raw(R.SetMemTable, MemTable(regions), [.. regions.Select(_ => c.Main.Memfd(MiB))]);
        }),
        new("nregions 9 in a table of 8", Reaction.Closed, ["SET_MEM_TABLE", "nregions=0x9", "must be 1..8"], c =>
        {
            c.Main.Hello();
            var regions = Enumerable.Range(0, 8).Select(i => new MemoryRegionDesc(Gpa + (ulong)i * MiB, MiB, Fva + (ulong)i * MiB, 0)).ToArray();
            c.Main.Raw(R.SetMemTable, MemTable(9, regions), [.. regions.Select(_ => c.Main.Memfd(MiB))]);
        }),
        new("a region of size 0", Reaction.Closed, ["SET_MEM_TABLE", "regions[0].memory_size=0x0", "non-zero"], BadRegion(r => r with { MemorySize = 0 })),
        new("guest address + size overflows", Reaction.Closed, ["SET_MEM_TABLE", "regions[0].guest_phys_addr+memory_size=0xfffffffffffff000", "overflows 64 bits"], BadRegion(r => r with { GuestPhysAddr = 0xFFFF_FFFF_FFFF_F000 })),
        new("front-end address + size overflows", Reaction.Closed, ["SET_MEM_TABLE", "regions[0].userspace_addr+memory_size=0xffffffffffff0000", "overflows 64 bits"], BadRegion(r => r with { UserspaceAddr = 0xFFFF_FFFF_FFFF_0000 })),
        new("mmap offset + size overflows a file offset", Reaction.Closed, ["SET_MEM_TABLE", "regions[0].mmap_offset+memory_size=0x7ffffffffffff000", "overflows a file offset"], BadRegion(r => r with { MmapOffset = 0x7FFF_FFFF_FFFF_F000 })),
        new("a region beyond the end of its file", Reaction.Closed, ["SET_MEM_TABLE", "regions[0].mmap_offset+memory_size=0x200000", "beyond the end of the file (1048576 bytes)"], BadRegion(r => r with { MemorySize = 2 * MiB })),
        new("an mmap offset at the end of the file", Reaction.Closed, ["SET_MEM_TABLE", "regions[0].mmap_offset+memory_size=0x101000", "beyond the end of the file"], BadRegion(r => r with { MemorySize = 4096, MmapOffset = MiB })),
        new("overlapping guest ranges", Reaction.Continues, ["SET_MEM_TABLE", "guest_phys_addr=0x100080000", "overlaps region [0x100000000, +0x100000)", "replied failure"], c =>
        {
            c.Main.Hello();
            var (a, fa) = c.Main.Region(MiB);
            var (b, fb) = c.Main.Region(MiB, Gpa + MiB / 2, Fva + MiB);
            c.Main.Refused(R.SetMemTable, MemTable(a, b), [fa, fb]);
        }),
        new("overlapping front-end ranges", Reaction.Continues, ["SET_MEM_TABLE", "userspace_addr=0x7f0000080000", "overlaps region", "replied failure"], c =>
        {
            c.Main.Hello();
            var (a, fa) = c.Main.Region(MiB);
            var (b, fb) = c.Main.Region(MiB, Gpa + MiB, Fva + MiB / 2);
            c.Main.Refused(R.SetMemTable, MemTable(a, b), [fa, fb]);
        }),
        new("a dirty log of 2^64-1 bytes", Reaction.Closed, ["SET_LOG_BASE", "mmap_size=0xffffffffffffffff", "must be 1 byte .. 1 TiB"], LogBase(ulong.MaxValue, 0)),
        new("a dirty log of 0 bytes", Reaction.Closed, ["SET_LOG_BASE", "mmap_size=0x0", "must be 1 byte .. 1 TiB"], LogBase(0, 0)),
        new("dirty log offset + size overflows", Reaction.Closed, ["SET_LOG_BASE", "mmap_offset+mmap_size=0xfffffffffffff000", "overflows 64 bits"], LogBase(0x2000, 0xFFFF_FFFF_FFFF_F000)),
        new("dirty log offset beyond any file offset", Reaction.Closed, ["SET_LOG_BASE", "mmap_offset+mmap_size=0x8000000000001000", "beyond the end of the file (4096 bytes)"], LogBase(4096, 0x8000_0000_0000_0000)),
        new("dirty log beyond the end of its file", Reaction.Closed, ["SET_LOG_BASE", "mmap_offset+mmap_size=0x2000", "beyond the end of the file (4096 bytes)"], LogBase(4096, 4096)),
        new("ADD_MEM_REG beyond the end of its file", Reaction.Closed, ["ADD_MEM_REG", "region.mmap_offset+memory_size=0x200000", "beyond the end of the file"], c =>
        {
            c.Main.Hello(DefaultProtocol | ProtocolFeatures.ConfigureMemSlots);
            var (a, fd) = c.Main.Region(MiB);
            c.Main.Refused(R.AddMemReg, Of(new SingleMemRegion { Region = a with { MemorySize = 2 * MiB } }), [fd]);
        }),

        // ---- ring requests ------------------------------------------------------------------------
        new("ring index 256", Reaction.Closed, ["SET_VRING_NUM", "index=0x100", "rings are 0..3"], AfterHello(R.SetVringNum, State(256, 256))),
        new("ring index beyond the queue pairs", Reaction.Closed, ["SET_VRING_ADDR", "index=0x4", "rings are 0..3 (2 queue pairs)"], AfterHello(R.SetVringAddr, Of(RingAddr(4, Fva)))),
        new("kick for ring 200 (NOFD)", Reaction.Closed, ["SET_VRING_KICK", "index=0xc8", "rings are 0..3"], AfterHello(R.SetVringKick, U64(200 | 0x100))),
        new("undefined bits in a vring fd request", Reaction.Closed, ["SET_VRING_CALL", "u64=0x200", "only bits 0-7 (index) and 8 (NOFD)"], c =>
        {
            c.Main.Hello();
            c.Main.Raw(R.SetVringCall, U64(0x200), [c.Main.EventFd()]);
        }),
        new("split ring size 0", Reaction.Closed, ["SET_VRING_NUM", "num=0x0", "power of two in 1..32768"], AfterHello(R.SetVringNum, State(0, 0))),
        new("split ring size 3", Reaction.Closed, ["SET_VRING_NUM", "num=0x3", "power of two in 1..32768"], AfterHello(R.SetVringNum, State(1, 3))),
        new("split ring size 65536", Reaction.Closed, ["SET_VRING_NUM", "num=0x10000", "power of two in 1..32768"], AfterHello(R.SetVringNum, State(1, 65536))),
        new("packed ring size 0", Reaction.Closed, ["SET_VRING_NUM", "num=0x0", "packed ring size must be 1..32768"], AfterHello(R.SetVringNum, State(1, 0), VirtioFeatures.RingPacked)),
        new("packed ring size 40000", Reaction.Closed, ["SET_VRING_NUM", "num=0x9c40", "packed ring size must be 1..32768"], AfterHello(R.SetVringNum, State(1, 40000), VirtioFeatures.RingPacked)),
        new("descriptor table misaligned", Reaction.Closed, ["SET_VRING_ADDR", "desc_user_addr=0x7f0000000008", "16-byte aligned"], AfterHello(R.SetVringAddr, Of(RingAddr(1, Fva) with { DescUserAddr = Fva + 8 }))),
        new("avail ring misaligned", Reaction.Closed, ["SET_VRING_ADDR", "avail_user_addr=0x7f0000001001", "2-byte aligned"], AfterHello(R.SetVringAddr, Of(RingAddr(1, Fva) with { AvailUserAddr = Fva + 0x1001 }))),
        new("used ring misaligned", Reaction.Closed, ["SET_VRING_ADDR", "used_user_addr=0x7f0000002002", "4-byte aligned"], AfterHello(R.SetVringAddr, Of(RingAddr(1, Fva) with { UsedUserAddr = Fva + 0x2002 }))),
        new("undefined SET_VRING_ADDR flags", Reaction.Closed, ["SET_VRING_ADDR", "flags=0x2", "only bit 0 (log)"], AfterHello(R.SetVringAddr, Of(RingAddr(1, Fva) with { Flags = 2 }))),
        new("descriptor table outside memory", Reaction.Closed, ["SET_VRING_ADDR", "desc_user_addr=0x7f0000200000", "not inside one memory region"], c =>
        {
            c.Main.Hello();
            var (a, fd) = c.Main.Region(MiB);
            c.Main.Fe.SetMemTable([a], [fd]);
            c.Main.Fe.SetVringNum(1, 256);
            c.Main.Raw(R.SetVringAddr, Of(RingAddr(1, Fva) with { DescUserAddr = Fva + 2 * MiB }));
        }),
        new("used ring running past the end of memory", Reaction.Closed, ["SET_VRING_ADDR", "used_user_addr=0x7f00000ffff0", "used ring of 2054 bytes is not inside one memory region"], c =>
        {
            c.Main.Hello();
            var (a, fd) = c.Main.Region(MiB);
            c.Main.Fe.SetMemTable([a], [fd]);
            c.Main.Fe.SetVringNum(1, 256);
            c.Main.Raw(R.SetVringAddr, Of(RingAddr(1, Fva) with { UsedUserAddr = Fva + MiB - 16 }));
        }),
        new("ring addresses outside memory, found at kick", Reaction.Closed, ["SET_VRING_KICK", "desc_user_addr=0x7f0000200000", "(vring 1)"], c =>
        {
            c.Main.Hello();
            c.Main.Fe.SetVringNum(1, 256);
            c.Main.Fe.SetVringAddr(RingAddr(1, Fva) with { DescUserAddr = Fva + 2 * MiB });
            var (a, fd) = c.Main.Region(MiB);
            c.Main.Fe.SetMemTable([a], [fd]);
            c.Main.Raw(R.SetVringKick, U64(1), [c.Main.EventFd()]);
        }),
        new("a packed ring size that the rings keep after turning split", Reaction.Closed, ["SET_VRING_KICK", "num=0x3", "power of two", "(vring 1)"], c =>
        {
            c.Main.Hello(extra: VirtioFeatures.RingPacked);
            c.Main.Fe.SetVringNum(1, 3);
            c.Main.Fe.SetFeatures(VirtioFeatures.Version1 | VirtioFeatures.ProtocolFeatures);
            var (a, fd) = c.Main.Region(MiB);
            c.Main.Fe.SetMemTable([a], [fd]);
            c.Main.Fe.SetVringAddr(RingAddr(1, Fva));
            c.Main.Raw(R.SetVringKick, U64(1), [c.Main.EventFd()]);
        }),
        new("a split-aligned driver area that the ring keeps after turning packed", Reaction.Closed, ["SET_VRING_KICK", "avail_user_addr=0x7f0000001002", "4-byte aligned", "(vring 1)"], c =>
        {
            c.Main.Hello();
            var (a, fd) = c.Main.Region(MiB);
            c.Main.Fe.SetMemTable([a], [fd]);
            c.Main.Fe.SetVringNum(1, 256);
            c.Main.Fe.SetVringAddr(RingAddr(1, Fva) with { AvailUserAddr = Fva + 0x1002 });
            c.Main.Fe.SetFeatures(VirtioFeatures.Version1 | VirtioFeatures.ProtocolFeatures | VirtioFeatures.RingPacked);
            c.Main.Raw(R.SetVringKick, U64(1), [c.Main.EventFd()]);
        }),
        new("split ring base above 16 bits", Reaction.Closed, ["SET_VRING_BASE", "num=0x10000", "16 bits"], AfterHello(R.SetVringBase, State(1, 0x10000))),
        new("packed ring base beyond the ring", Reaction.Closed, ["SET_VRING_BASE", "num=0x8000812c", "avail index 300 (bits 0-14) must be below the ring size 256"], c =>
        {
            c.Main.Hello(extra: VirtioFeatures.RingPacked);
            c.Main.Fe.SetVringNum(1, 256);
            c.Main.Raw(R.SetVringBase, State(1, 0x8000_812C));
        }),
        new("SET_VRING_ENABLE 2", Reaction.Closed, ["SET_VRING_ENABLE", "num=0x2", "must be 0 (disable) or 1 (enable)"], c =>
        {
            c.Main.Hello();
            c.Main.Refused(R.SetVringEnable, State(0, 2));
        }),

        // ---- order ----------------------------------------------------------------------------------
        new("SET_VRING_NUM while the ring runs", Reaction.Closed, ["SET_VRING_NUM", "index=0x1", "ring is running"], WhileRunning(R.SetVringNum, State(1, 128))),
        new("SET_VRING_BASE while the ring runs", Reaction.Closed, ["SET_VRING_BASE", "index=0x1", "ring is running"], WhileRunning(R.SetVringBase, State(1, 7))),
        new("SET_VRING_ADDR moving a running ring", Reaction.Closed, ["SET_VRING_ADDR", "addresses=0x7f0000010000", "ring is running"], WhileRunning(R.SetVringAddr, Of(RingAddr(1, Fva + 0x10000)))),
        new("SET_FEATURES changing more than LOG_ALL while rings run", Reaction.Closed, ["SET_FEATURES", "only LOG_ALL may change while rings run"], WhileRunning(R.SetFeatures, U64(VirtioFeatures.Version1 | VirtioFeatures.ProtocolFeatures | VirtioFeatures.RingEventIdx))),

        // ---- features ---------------------------------------------------------------------------------
        new("features not offered", Reaction.Closed, ["SET_FEATURES", "features=0x100000001", "must be a subset of those offered", "extra bits 0x1"], c =>
        {
            c.Main.Fe.GetFeatures();
            c.Main.Raw(R.SetFeatures, U64(VirtioFeatures.Version1 | VirtioFeatures.NetCsum));
        }),
        new("protocol features not offered", Reaction.Closed, ["SET_PROTOCOL_FEATURES", "features=0x208", "extra bits 0x200"], c =>
        {
            c.Main.Fe.GetFeatures();
            c.Main.Fe.GetProtocolFeatures();
            c.Main.Raw(R.SetProtocolFeatures, U64(ProtocolFeatures.ReplyAck | ProtocolFeatures.Config));
        }),
        new("GET_QUEUE_NUM without MQ", Reaction.Closed, ["GET_QUEUE_NUM", "protocol features=0x8", "needs MQ to be negotiated first"], c =>
        {
            c.Main.Hello(ProtocolFeatures.ReplyAck);
            c.Main.Raw(R.GetQueueNum, []);
        }),
        new("SET_STATUS without STATUS", Reaction.Closed, ["SET_STATUS", "needs STATUS"], c =>
        {
            c.Main.Hello(ProtocolFeatures.ReplyAck);
            c.Main.Refused(R.SetStatus, U64(0xf));
        }),
        new("SET_LOG_BASE without LOG_SHMFD", Reaction.Closed, ["SET_LOG_BASE", "needs LOG_SHMFD"], c =>
        {
            c.Main.Hello(ProtocolFeatures.ReplyAck);
            c.Main.Raw(R.SetLogBase, Of(new LogDesc { MmapSize = 4096 }), [c.Main.Memfd(4096)]);
        }),
        new("RESET_DEVICE without RESET_DEVICE", Reaction.Closed, ["RESET_DEVICE", "needs RESET_DEVICE"], c =>
        {
            c.Main.Hello(ProtocolFeatures.ReplyAck);
            c.Main.Refused(R.ResetDevice, []);
        }),
        new("SET_BACKEND_REQ_FD without BACKEND_REQ", Reaction.Closed, ["SET_BACKEND_REQ_FD", "needs BACKEND_REQ"], c =>
        {
            c.Main.Hello(ProtocolFeatures.ReplyAck);
            c.Main.Refused(R.SetBackendReqFd, [], [c.Main.SocketPair().A]);
        }),
        new("NET_SET_MTU without NET_MTU", Reaction.Closed, ["NET_SET_MTU", "needs NET_MTU"], c =>
        {
            c.Main.Hello(ProtocolFeatures.ReplyAck);
            c.Main.Refused(R.NetSetMtu, U64(1500));
        }),

        // ---- lifecycle --------------------------------------------------------------------------------
        new("instant disconnects, 50 times", Reaction.Own, null, c =>
        {
            for (int i = 0; i < 50; i++)
            {
                c.Open().Fe.Dispose();
            }
        }, Sessions: 50),
        new("a client that never speaks", Reaction.Closed, ["no message within 1000 ms"], c =>
            Assert.NotNull(c.Main)),
        new("disconnect with memory mapped and a ring running", Reaction.Own, null, c =>
        {
            c.Main.RunningRing();
            c.Main.Fe.Dispose();
        }),
        new("a flood of requests whose replies are never read", Reaction.Own, null, c =>
        {
            HostileFrontend f = c.Main;
            byte[] one = Header(1, 1, 0);
            var flood = new Thread(() =>
            {
                try
                {
                    for (int i = 0; i < 50_000; i++)
                    {
                        f.Fe.SendBytes(one, []);
                    }
                }
                catch (IOException)
                {
                    // the socket was shut down under us: the point of the case
                }
            }) { IsBackground = true };
            flood.Start();
            Thread.Sleep(300);
            UnixSocket.Shutdown(f.Fe.Fd);
            Assert.True(flood.Join(Timeouts.Short), "the flooding thread did not stop");
        }),
        new("two clients on one socket: the second is refused at once while the first is served", Reaction.Own,
            ["refused a front-end on", "the device already serves one"], c =>
        {
            using var first = new LoadGenerator(Traffic.Quick(c.Socket) with { DurationS = 0.2, WarmupS = 0.02 });
            first.Setup();
            HostileFrontend second = c.Open();
            // A device serves one front-end: the second connection is closed, not left waiting.
            Assert.Throws<IOException>(() => second.Fe.GetFeatures());
            Traffic.AssertIntact(first.Run());
        }),
    ];

    /// <summary>GET_VRING_BASE on a ring never configured is answered with its base, 0, as
    /// DPDK and libvhost-user answer it (QEMU and virtio-user stop every ring of a device they
    /// stop). It stops nothing else: the ring that runs keeps running, and the session goes on.</summary>
    [Fact]
    public void GetVringBaseOnARingNeverConfiguredAnswersZeroAndStopsNothing()
    {
        CaseRunner.Run(backend, "GET_VRING_BASE on a ring never configured", 1, null, () =>
        {
            using var ctx = new Ctx(backend.SocketPath);
            ctx.Main.RunningRing(ring: 1);
            ctx.Main.AssertAlive(); // a round trip: the kick has been handled
            Assert.True(backend.Be.Server.Vrings[1].Started);
            Assert.Equal(0u, ctx.Main.Fe.GetVringBase(3));
            Assert.True(backend.Be.Server.Vrings[1].Started, "the running ring was stopped");
            Assert.False(backend.Be.Server.Vrings[3].Started);
            ctx.Main.AssertAlive();
            Assert.DoesNotContain(backend.LogLines, l => l.Contains("[error]", StringComparison.Ordinal) || l.Contains("[warn]", StringComparison.Ordinal));
        });
    }

    public static TheoryData<string> Cases() => CaseRunner.Names(s_cases.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(Cases))]
    public void HostileFrontEnd(string name)
    {
        Case c = s_cases.Single(x => x.Name == name);
        CaseRunner.Run(backend, name, c.Sessions, c.Log, () =>
        {
            using var ctx = new Ctx(backend.SocketPath);
            c.Act(ctx);
            switch (c.Expect)
            {
                case Reaction.Closed:
                    Assert.True(ctx.Main.ClosedWithin(Timeouts.Short), $"{name}: the back-end did not close the connection");
                    break;
                case Reaction.Continues:
                    ctx.Main.AssertAlive();
                    Assert.False(ctx.Main.ClosedWithin(TimeSpan.Zero), $"{name}: the back-end closed the connection");
                    break;
            }
        });
    }
}

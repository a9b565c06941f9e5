using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Protocol;

namespace PerfLab.Fuzz;

/// <summary>
/// Guest RAM for the ring target: one memfd, mapped once per process and rewritten from each
/// input. The back-end sees it through real <see cref="MappedRegion"/>s (as after
/// SET_MEM_TABLE) in four layouts: one region; two regions adjacent in guest-physical space
/// but apart in the host (buffers that straddle them are split); two regions with a gap; all
/// three. Each mapping sits between two PROT_NONE guard pages (<see cref="Guarded"/>), so a
/// read or write past its end or before its file offset 0 ends the process with SIGSEGV
/// instead of touching a neighbour. Pointers handed out by the rings are also checked against
/// the regions (<see cref="CheckRange"/>), which catches what lands inside a mapping but
/// outside its region.
/// </summary>
public sealed unsafe class GuestArena : IDisposable
{
    public const ulong RegionSize = 64 * 1024;
    public const ulong FileSize = 3 * RegionSize;
    public const ulong Gpa0 = 0x10_0000;
    public const ulong FvaOffset = 0x7f00_0000_0000;
    public const int LogBytes = 64;  // 512 pages: GPAs below 2 MiB are logged, region 2 is not

    private const ulong Page = 4096;

    private static GuestArena? s_shared;

    private readonly int _fd;
    private readonly byte* _file;
    private readonly MappedRegion[] _regions;
    private readonly GuestMemory[] _layouts;
    private readonly byte* _logMap;
    private readonly List<(nint Addr, nuint Len)> _guards = [];

    /// <summary>The arena of this process (created on first use, never freed: fuzzing runs
    /// millions of inputs over the same mappings).</summary>
    public static GuestArena Shared => s_shared ??= new GuestArena();

    /// <summary>Region i: guest-physical and front-end virtual start, offset in the file.</summary>
    public static readonly MemoryRegionDesc[] Descs =
    [
        new(Gpa0, RegionSize, Gpa0 + FvaOffset, 0),
        new(Gpa0 + RegionSize, RegionSize, Gpa0 + RegionSize + FvaOffset, RegionSize),
        new(0x4000_0000, RegionSize, 0x4000_0000 + FvaOffset, 2 * RegionSize),
    ];

    private GuestArena()
    {
        _fd = LibC.memfd_create("perflab-fuzz-guest", LibC.MFD_CLOEXEC);
        if (_fd < 0 || LibC.ftruncate(_fd, (long)FileSize) != 0)
        {
            throw new IOException($"guest memfd failed: errno {LibC.Errno}");
        }
        nint f = LibC.mmap(0, (nuint)FileSize, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, _fd, 0);
        if (f == LibC.MAP_FAILED)
        {
            throw new IOException($"mmap of the guest memfd failed: errno {LibC.Errno}");
        }
        _file = (byte*)f;
        _regions = new MappedRegion[Descs.Length];
        for (int i = 0; i < Descs.Length; i++)
        {
            _regions[i] = MapGuarded(Descs[i], i);
        }
        _layouts =
        [
            new GuestMemory([_regions[0]]),
            new GuestMemory([_regions[0], _regions[1]]),
            new GuestMemory([_regions[0], _regions[2]]),
            new GuestMemory([_regions[0], _regions[1], _regions[2]]),
        ];
        int logFd = LibC.memfd_create("perflab-fuzz-log", LibC.MFD_CLOEXEC);
        if (logFd < 0 || LibC.ftruncate(logFd, LogBytes) != 0)
        {
            throw new IOException($"log memfd failed: errno {LibC.Errno}");
        }
        nint l = LibC.mmap(0, (nuint)LogBytes, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, logFd, 0);
        _logMap = (byte*)l;
        Log = DirtyLog.Map(new LogDesc { MmapSize = LogBytes, MmapOffset = 0 }, logFd); // takes logFd
    }

    /// <summary>True when every mapping got both guard pages.</summary>
    public bool Guarded => _guards.Count == 2 * Descs.Length;

    public DirtyLog Log { get; }

    public GuestMemory Layout(int i) => _layouts[i & 3];

    /// <summary>Zeroes guest RAM and the dirty log, then copies <paramref name="image"/> from
    /// the start of region 0 (it runs on into region 1, then region 2).</summary>
    public void Reset(ReadOnlySpan<byte> image)
    {
        var all = new Span<byte>(_file, (int)FileSize);
        all.Clear();
        image[..Math.Min(image.Length, all.Length)].CopyTo(all);
        new Span<byte>(_logMap, LogBytes).Clear();
    }

    /// <summary>The guest writes <paramref name="data"/> at <paramref name="fileOffset"/> (wraps in the file).</summary>
    public void GuestWrite(ulong fileOffset, ReadOnlySpan<byte> data)
    {
        ulong off = fileOffset % FileSize;
        int len = (int)Math.Min((ulong)data.Length, FileSize - off);
        data[..len].CopyTo(new Span<byte>(_file + off, len));
    }

    /// <summary>
    /// Throws unless <c>[p, p+len)</c> lies inside one region of <paramref name="mem"/> and is
    /// the host image of <c>[gpa, gpa+len)</c>.
    /// </summary>
    public void CheckRange(GuestMemory mem, byte* p, ulong len, ulong gpa, string what)
    {
        foreach (MappedRegion r in mem.Regions)
        {
            byte* start = r.HostStart;
            if (p >= start && len <= r.Desc.MemorySize && (ulong)(p - start) <= r.Desc.MemorySize - len)
            {
                if ((ulong)(p - start) + r.Desc.GuestPhysAddr != gpa)
                {
                    throw new FuzzInvariantException($"{what}: host 0x{(nint)p:x} is not gpa 0x{gpa:x}");
                }
                return;
            }
        }
        throw new FuzzInvariantException($"{what}: [0x{(nint)p:x}, +{len}) (gpa 0x{gpa:x}) is outside guest memory");
    }

    /// <summary>
    /// Maps a region as SET_MEM_TABLE does, placed (MAP_FIXED) in the middle of a PROT_NONE
    /// reservation, so that a guard page lies on each side whatever else the process maps.
    /// </summary>
    private MappedRegion MapGuarded(in MemoryRegionDesc desc, int index)
    {
        nuint len = (nuint)(desc.MmapOffset + desc.MemorySize); // page multiples: mapped exactly
        nint res = LibC.mmap(0, len + 2 * (nuint)Page, LibC.PROT_NONE, LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS, -1, 0);
        if (res == LibC.MAP_FAILED)
        {
            throw new IOException($"guard reservation failed: errno {LibC.Errno}");
        }
        MappedRegion r = MappedRegion.Map(VhostUserRequest.SetMemTable, desc, LibC.dup(_fd), index, res + (nint)Page);
        _guards.Add((res, (nuint)Page));
        _guards.Add((res + (nint)Page + (nint)len, (nuint)Page));
        return r;
    }

    public void Dispose()
    {
        foreach (MappedRegion r in _regions)
        {
            r.Dispose();
        }
        foreach (var (a, l) in _guards)
        {
            LibC.munmap(a, l);
        }
        Log.Dispose();
        LibC.munmap((nint)_logMap, LogBytes);
        LibC.munmap((nint)_file, (nuint)FileSize);
        LibC.CloseQuietly(_fd);
    }
}

using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;

namespace PerfLab.LoadGen.Memory;

/// <summary>
/// The guest's RAM, as QEMU provides it to a vhost-user back-end: shared memfd memory, in one
/// or more regions, each its own memfd mapped MAP_SHARED here. Guest-physical addresses start
/// at <c>gpaBase</c> (QEMU-like: distinct from our virtual addresses, which catches a back-end
/// that confuses the two) or equal our virtual addresses (<c>identity</c>, as DPDK virtio-user
/// does). A bump allocator hands out buffers that never straddle two regions.
/// </summary>
public sealed unsafe class GuestRam : IDisposable
{
    public const ulong PageSize = 4096;

    private readonly Region[] _regions;
    private int _allocRegion;
    private ulong _allocOffset;

    public sealed class Region
    {
        public int Fd;
        public byte* Host;
        public ulong Size;
        public ulong Gpa;
        public ulong Fva => (ulong)Host;
        public MemoryRegionDesc Desc => new(Gpa, Size, Fva, 0);
    }

    public GuestRam(ulong totalBytes, int regions = 1, ulong gpaBase = 0x1_0000_0000, bool identity = false)
    {
        if (regions < 1 || regions > 509)
        {
            throw new ArgumentOutOfRangeException(nameof(regions));
        }
        ulong per = (totalBytes / (ulong)regions + PageSize - 1) / PageSize * PageSize;
        _regions = new Region[regions];
        ulong gpa = gpaBase;
        try
        {
            for (int i = 0; i < regions; i++)
            {
                byte* p = CreateShared($"perflab-guest-{i}", per, out int fd);
                _regions[i] = new Region { Fd = fd, Host = p, Size = per, Gpa = identity ? (ulong)p : gpa };
                gpa += per;
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Creates a memfd of <paramref name="size"/> bytes and maps it shared (populated);
    /// the caller owns both the fd and the mapping.</summary>
    public static byte* CreateShared(string name, ulong size, out int fd)
    {
        fd = LibC.memfd_create(name, LibC.MFD_CLOEXEC);
        if (fd < 0)
        {
            throw new IOException($"memfd_create failed: errno {LibC.Errno}");
        }
        if (LibC.ftruncate(fd, (long)size) != 0)
        {
            LibC.close(fd);
            throw new IOException($"ftruncate({size}) failed: errno {LibC.Errno}");
        }
        nint p = LibC.mmap(0, (nuint)size, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED | LibC.MAP_POPULATE, fd, 0);
        if (p == LibC.MAP_FAILED)
        {
            LibC.close(fd);
            throw new IOException($"mmap of {size} shared bytes failed: errno {LibC.Errno}");
        }
        return (byte*)p;
    }

    /// <summary>One past the highest guest-physical address of the RAM.</summary>
    public ulong EndGpa => _regions.Max(r => r.Gpa + r.Size);

    public IReadOnlyList<Region> Regions => _regions;

    public ulong TotalBytes => _regions.Aggregate(0UL, (s, r) => s + r.Size);

    /// <summary>Allocates <paramref name="size"/> bytes aligned to <paramref name="align"/>
    /// inside one region; returns its guest-physical address.</summary>
    public ulong Alloc(ulong size, ulong align = 64)
    {
        while (_allocRegion < _regions.Length)
        {
            Region r = _regions[_allocRegion];
            ulong start = (_allocOffset + align - 1) / align * align;
            if (start + size <= r.Size)
            {
                _allocOffset = start + size;
                return r.Gpa + start;
            }
            _allocRegion++;
            _allocOffset = 0;
        }
        throw new InvalidOperationException($"guest RAM exhausted allocating {size} bytes; raise --memory-mb");
    }

    /// <summary>Host pointer of a guest-physical address we allocated.</summary>
    public byte* Host(ulong gpa)
    {
        foreach (Region r in _regions)
        {
            if (gpa >= r.Gpa && gpa - r.Gpa < r.Size)
            {
                return r.Host + (gpa - r.Gpa);
            }
        }
        throw new ArgumentOutOfRangeException(nameof(gpa), $"0x{gpa:x} is not guest RAM");
    }

    /// <summary>Front-end virtual address (what SET_VRING_ADDR carries) of a guest address.</summary>
    public ulong Fva(ulong gpa) => (ulong)Host(gpa);

    public Span<byte> Span(ulong gpa, int len) => new(Host(gpa), len);

    public void Dispose()
    {
        foreach (Region? r in _regions)
        {
            if (r == null)
            {
                continue;
            }
            if (r.Host != null)
            {
                LibC.munmap((nint)r.Host, (nuint)r.Size);
                r.Host = null;
            }
            LibC.CloseQuietly(r.Fd);
            r.Fd = -1;
        }
    }
}

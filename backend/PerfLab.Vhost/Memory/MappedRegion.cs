using Mono.Unix.Native;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;

namespace PerfLab.Vhost.Memory;

/// <summary>
/// One guest memory region mapped from the fd the front-end passed. Maps
/// <c>[0, mmap_offset + memory_size)</c> of the file (offset 0, because mmap_offset need not be
/// page aligned; docs/protocol.md#mapping-a-region) and exposes <see cref="HostStart"/> = base +
/// mmap_offset. Owns the fd and the mapping.
/// </summary>
public sealed unsafe class MappedRegion : IDisposable
{
    private nint _mapBase;
    private readonly nuint _mapLength;
    private int _fd;

    private MappedRegion(MemoryRegionDesc desc, int fd, nint mapBase, nuint mapLength, ulong dev, ulong ino)
    {
        Desc = desc;
        _fd = fd;
        _mapBase = mapBase;
        _mapLength = mapLength;
        Device = dev;
        Inode = ino;
        GuestMemoryFaults.Add(this);
    }

    public MemoryRegionDesc Desc { get; }

    /// <summary>Identity of the backing file (st_dev, st_ino): a resent identical table maps
    /// the same files, and need not be remapped.</summary>
    public ulong Device { get; }

    public ulong Inode { get; }

    /// <summary>True if <paramref name="fd"/> refers to this region's backing file.</summary>
    public static bool SameFile(int fd, MappedRegion r) =>
        Syscall.fstat(fd, out Stat st) == 0 && st.st_dev == r.Device && st.st_ino == r.Inode;

    public byte* HostStart => (byte*)_mapBase + Desc.MmapOffset;

    public ulong MappedLength => _mapLength;

    public bool IsMapped => _mapBase != 0;

    /// <summary>The file shrank under this mapping: the mapping is now anonymous memory
    /// (<see cref="GuestMemoryFaults"/>).</summary>
    public bool IsRevoked { get; private set; }

    /// <summary>Told once, on the thread that caught the fault, when this region is revoked;
    /// the argument is the file's new size. Its owner ends the session.</summary>
    public Action<MappedRegion, long>? OnRevoked { get; set; }

    /// <summary>The backing file's size now, or null if fstat fails.</summary>
    internal long? FileSize() => Syscall.fstat(_fd, out Stat st) == 0 ? st.st_size : null;

    /// <summary>Replaces the mapping in place with private anonymous memory (reads zeros, writes
    /// go nowhere), so that no access to it faults again. Under the registry's lock only.</summary>
    internal bool Overlay()
    {
        if (_mapBase == 0)
        {
            return false;
        }
        nint p = LibC.mmap(_mapBase, _mapLength, LibC.PROT_READ | LibC.PROT_WRITE,
            LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_FIXED | LibC.MAP_NORESERVE, -1, 0);
        IsRevoked = p == _mapBase;
        return IsRevoked;
    }

    /// <summary>
    /// Validates and maps a region. Takes ownership of <paramref name="fd"/> on success only.
    /// Rejects an fd that is not a regular file (memfd, tmpfs, hugetlbfs) and a region that
    /// reaches past the end of the file: touching such a page would raise SIGBUS.
    /// <paramref name="at"/>, when non-zero, places the mapping there (MAP_FIXED) inside a
    /// reservation the caller owns, for instance between two PROT_NONE guard pages.
    /// </summary>
    public static MappedRegion Map(VhostUserRequest request, in MemoryRegionDesc desc, int fd, int index, nint at = 0)
    {
        MessageCodec.ValidateRegion(request, desc, index);
        string f = index >= 0 ? $"regions[{index}]" : "region";
        // A file that can be sealed against shrinking is, before its size is read, so that the
        // fault cannot happen; the others (DPDK's memfd, tmpfs and hugetlbfs files) rely on
        // GuestMemoryFaults.TryRecover.
        GuestMemoryFaults.SealAgainstShrinking(fd);
        if (Syscall.fstat(fd, out Stat st) != 0)
        {
            throw new VhostProtocolException(request, $"{f}.fd", (ulong)fd, $"fstat failed: {Stdlib.GetLastError()}");
        }
        if ((st.st_mode & FilePermissions.S_IFMT) != FilePermissions.S_IFREG)
        {
            throw new VhostProtocolException(request, $"{f}.fd", $"mode 0{Convert.ToString((uint)st.st_mode, 8)}", "must be a memory file (memfd, tmpfs or hugetlbfs), not a socket, pipe or eventfd");
        }
        ulong end = desc.MmapOffset + desc.MemorySize;
        if ((ulong)st.st_size < end)
        {
            throw new VhostProtocolException(request, $"{f}.mmap_offset+memory_size", end, $"beyond the end of the file ({st.st_size} bytes)");
        }
        // hugetlbfs needs the length rounded to its block size.
        ulong block = st.st_blksize > 0 ? (ulong)st.st_blksize : 4096;
        ulong len = (end + block - 1) / block * block;
        if (len > (ulong)st.st_size)
        {
            len = end; // a regular file need not be block-multiple; map exactly what exists
        }
        nint p = LibC.mmap(at, (nuint)len, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED | (at != 0 ? LibC.MAP_FIXED : 0), fd, 0);
        if (p == LibC.MAP_FAILED)
        {
            throw new VhostProtocolException(request, $"{f}", desc.ToString(), $"mmap of {len} bytes failed: errno {LibC.Errno}");
        }
        return new MappedRegion(desc, fd, p, (nuint)len, st.st_dev, st.st_ino);
    }

    public void Dispose()
    {
        GuestMemoryFaults.Remove(this, () =>
        {
            nint p = Interlocked.Exchange(ref _mapBase, 0);
            if (p != 0)
            {
                LibC.munmap(p, _mapLength);
            }
        });
        int fd = Interlocked.Exchange(ref _fd, -1);
        LibC.CloseQuietly(fd);
    }
}

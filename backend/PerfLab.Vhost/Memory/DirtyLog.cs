using System.Runtime.CompilerServices;
using Mono.Unix.Native;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;

namespace PerfLab.Vhost.Memory;

/// <summary>
/// The migration dirty log (LOG_SHMFD, docs/protocol.md#dirty-log): a bitmap of 4 KiB guest pages
/// in a shared memory file. For each device write at GPA <c>a</c>, bit <c>a/4096</c> is set with an
/// atomic OR, because QEMU reads and clears it concurrently.
/// </summary>
public sealed unsafe class DirtyLog : IDisposable
{
    public const int PageShift = 12;

    private nint _mapBase;
    private readonly nuint _mapLength;
    private readonly byte* _log;
    private readonly ulong _logBytes;

    private DirtyLog(nint mapBase, nuint mapLength, byte* log, ulong logBytes)
    {
        _mapBase = mapBase;
        _mapLength = mapLength;
        _log = log;
        _logBytes = logBytes;
    }

    public ulong SizeBytes => _logBytes;

    /// <summary>Maps the log; takes ownership of (and closes) <paramref name="fd"/> either way.</summary>
    public static DirtyLog Map(in LogDesc desc, int fd)
    {
        const VhostUserRequest r = VhostUserRequest.SetLogBase;
        try
        {
            if (desc.MmapSize == 0 || desc.MmapSize > (1UL << 40))
            {
                throw new VhostProtocolException(r, "mmap_size", desc.MmapSize, "must be 1 byte .. 1 TiB") { Fatal = false };
            }
            if (desc.MmapOffset + desc.MmapSize < desc.MmapOffset)
            {
                throw new VhostProtocolException(r, "mmap_offset+mmap_size", desc.MmapOffset, "overflows 64 bits") { Fatal = false };
            }
            if (Syscall.fstat(fd, out Stat st) != 0 || (st.st_mode & FilePermissions.S_IFMT) != FilePermissions.S_IFREG)
            {
                throw new VhostProtocolException(r, "fd", (ulong)fd, $"must be a memory file, not {LibC.FdTarget(fd)}") { Fatal = false };
            }
            ulong end = desc.MmapOffset + desc.MmapSize;
            if ((ulong)st.st_size < end)
            {
                throw new VhostProtocolException(r, "mmap_offset+mmap_size", end, $"beyond the end of the file ({st.st_size} bytes)") { Fatal = false };
            }
            nint p = LibC.mmap(0, (nuint)end, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, fd, 0);
            if (p == LibC.MAP_FAILED)
            {
                throw new VhostProtocolException(r, "mmap", end, $"mmap failed: errno {LibC.Errno}") { Fatal = false };
            }
            return new DirtyLog(p, (nuint)end, (byte*)p + desc.MmapOffset, desc.MmapSize);
        }
        finally
        {
            LibC.CloseQuietly(fd); // the mapping keeps the memory alive
        }
    }

    /// <summary>Marks every page touched by <c>[gpa, gpa+len)</c>; pages beyond the log are ignored.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Mark(ulong gpa, ulong len)
    {
        if (len == 0)
        {
            return;
        }
        ulong first = gpa >> PageShift;
        ulong last = (gpa + len - 1) >> PageShift;
        for (ulong page = first; page <= last; page++)
        {
            MarkPage(page);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void MarkPage(ulong page)
    {
        ulong byteIndex = page >> 3;
        if (byteIndex >= _logBytes)
        {
            return;
        }
        byte* b = _log + byteIndex;
        // OR into the aligned 32-bit word that holds the byte (the map base is page aligned, so
        // the word lies inside the mapping).
        nint addr = (nint)b;
        int* word = (int*)(addr & ~(nint)3);
        int shift = (int)((addr & 3) * 8) + (int)(page & 7);
        if ((Volatile.Read(ref *word) & (1 << shift)) == 0)
        {
            Interlocked.Or(ref *word, 1 << shift);
        }
    }

    /// <summary>Test helper: is the page's bit set?</summary>
    public bool IsDirty(ulong page) => (page >> 3) < _logBytes && (_log[page >> 3] & (1 << (int)(page & 7))) != 0;

    public void Dispose()
    {
        nint p = Interlocked.Exchange(ref _mapBase, 0);
        if (p != 0)
        {
            LibC.munmap(p, _mapLength);
        }
    }
}

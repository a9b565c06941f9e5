using Mono.Unix.Native;
using PerfLab.Vhost.Interop;

namespace PerfLab.Vhost.Memory;

/// <summary>
/// A MAP_SHARED mapping of a file a front-end passed (a guest memory region, the dirty log),
/// registered with <see cref="GuestMemoryFaults"/> from creation to <see cref="Dispose"/>. The
/// file's fd stays open so that, after a fault, the recovery can tell whether the file shrank
/// under the mapping. Owns the fd and the mapping.
/// </summary>
internal sealed class FileMapping : IDisposable
{
    private nint _base;
    private int _fd;

    /// <param name="revoked">Told once, on the thread that caught the fault, with the file's
    /// new size, when the mapping is revoked.</param>
    public FileMapping(int fd, nint mapBase, nuint length, Action<long> revoked)
    {
        _fd = fd;
        _base = mapBase;
        Length = length;
        Revoked = revoked;
        GuestMemoryFaults.Add(this);
    }

    public nint Base => _base;

    public nuint Length { get; }

    /// <summary>The file shrank under this mapping: the mapping is now anonymous memory.</summary>
    public bool IsRevoked { get; private set; }

    public Action<long> Revoked { get; }

    /// <summary>The backing file's size now, or null if fstat fails.</summary>
    public long? FileSize() => Syscall.fstat(_fd, out Stat st) == 0 ? st.st_size : null;

    /// <summary>Replaces the mapping in place with private anonymous memory (reads zeros, writes
    /// go nowhere), so that no access to it faults again. Under the registry's lock only.</summary>
    public bool Overlay()
    {
        if (_base == 0)
        {
            return false;
        }
        nint p = LibC.mmap(_base, Length, LibC.PROT_READ | LibC.PROT_WRITE,
            LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_FIXED | LibC.MAP_NORESERVE, -1, 0);
        IsRevoked = p == _base;
        return IsRevoked;
    }

    public void Dispose()
    {
        GuestMemoryFaults.Remove(this, () =>
        {
            nint p = Interlocked.Exchange(ref _base, 0);
            if (p != 0)
            {
                LibC.munmap(p, Length);
            }
        });
        LibC.CloseQuietly(Interlocked.Exchange(ref _fd, -1));
    }
}

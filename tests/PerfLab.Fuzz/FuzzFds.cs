using Mono.Unix.Native;
using PerfLab.Vhost.Interop;

namespace PerfLab.Fuzz;

/// <summary>
/// The fds a fuzz input makes the front-end send, and the check that the back-end closed every
/// fd it received once its session is over. Fd kinds come from one byte: memory files of a
/// chosen size (what SET_MEM_TABLE and friends need), eventfds (kick, call, err), pipes (a
/// pollable fd of the wrong kind) and a second fd for a memory file sent before (same file,
/// other descriptor: the "identical table" and "already mapped" paths).
/// </summary>
public sealed class FuzzFds : IDisposable
{
    public const string MemfdName = "perflab-fuzz";

    private readonly List<int> _memfds = [];       // the front-end's own copy of every memory file
    private readonly List<(int Fd, ulong Dev, ulong Ino)> _own = [];
    private readonly List<(int Fd, ulong Dev, ulong Ino)> _received = [];

    /// <summary>Memory files created so far (the front-end keeps them, as QEMU keeps guest RAM).</summary>
    public int MemfdCount => _memfds.Count;

    /// <summary>Makes one fd to send, per kind byte <paramref name="kind"/>; the caller closes it after sending.</summary>
    public int Make(byte kind)
    {
        int sel = kind >> 2;
        switch (kind & 3)
        {
            case 0:
                return NewMemfd((ulong)sel * 4096);
            case 1:
                return EventFd.Create();
            case 2:
                if (Syscall.pipe(out int r, out int w) != 0)
                {
                    throw new IOException("pipe failed");
                }
                LibC.CloseQuietly(w);
                return r;
            default:
                return _memfds.Count == 0 ? NewMemfd(4096) : LibC.dup(_memfds[sel % _memfds.Count]);
        }
    }

    private int NewMemfd(ulong size)
    {
        int fd = LibC.memfd_create(MemfdName, LibC.MFD_CLOEXEC);
        if (fd < 0 || LibC.ftruncate(fd, (long)size) != 0)
        {
            throw new IOException($"memfd of {size} bytes failed: errno {LibC.Errno}");
        }
        _memfds.Add(fd);
        if (Syscall.fstat(fd, out Stat st) == 0)
        {
            _own.Add((fd, st.st_dev, st.st_ino));
        }
        return LibC.dup(fd);
    }

    /// <summary>The guest writes into memory file <paramref name="index"/> (within its size:
    /// guest RAM does not grow).</summary>
    public unsafe void GuestWrite(int index, ulong offset, ReadOnlySpan<byte> data)
    {
        if (_memfds.Count == 0 || data.IsEmpty)
        {
            return;
        }
        int fd = _memfds[index % _memfds.Count];
        if (Syscall.fstat(fd, out Stat st) != 0 || st.st_size <= 0)
        {
            return;
        }
        ulong size = (ulong)st.st_size;
        offset %= size;
        int len = (int)Math.Min((ulong)data.Length, size - offset);
        fixed (byte* p = data)
        {
            Syscall.pwrite(fd, p, (ulong)len, (long)offset);
        }
    }

    /// <summary>Remembers an fd the back-end received, by identity (the number may be reused).</summary>
    public void Received(IEnumerable<int> fds)
    {
        foreach (int fd in fds)
        {
            if (fd >= 0 && Syscall.fstat(fd, out Stat st) == 0)
            {
                _received.Add((fd, st.st_dev, st.st_ino));
            }
        }
    }

    /// <summary>
    /// Throws if an fd the back-end received is still open once everything was disposed: same
    /// number, same file. (Eventfds share one anonymous inode, so a number reused by another
    /// eventfd would look the same; nothing else opens eventfds while a target runs.)
    /// </summary>
    public void CheckNoLeaks()
    {
        foreach (var (fd, dev, ino) in _received)
        {
            if (Syscall.fstat(fd, out Stat st) == 0 && st.st_dev == dev && st.st_ino == ino)
            {
                string what = new FileInfo($"/proc/self/fd/{fd}").LinkTarget ?? "?";
                throw new FuzzInvariantException($"fd {fd} ({what}) received by the back-end is still open after the session ended");
            }
        }
    }

    /// <summary>
    /// Throws if one of the front-end's own fds was closed under it: the back-end closed an fd
    /// number twice (the second time, a number reused by someone else).
    /// </summary>
    public void CheckOwnFdsIntact()
    {
        foreach (var (fd, dev, ino) in _own)
        {
            if (Syscall.fstat(fd, out Stat st) != 0 || st.st_dev != dev || st.st_ino != ino)
            {
                throw new FuzzInvariantException($"the front-end's fd {fd} was closed by someone else (a double close in the back-end)");
            }
        }
    }

    public void Dispose()
    {
        foreach (int fd in _memfds)
        {
            LibC.CloseQuietly(fd);
        }
        _memfds.Clear();
        _own.Clear();
    }
}

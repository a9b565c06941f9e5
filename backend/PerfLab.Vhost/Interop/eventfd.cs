using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace PerfLab.Vhost.Interop;

public static unsafe partial class LibC
{
    public const int EFD_SEMAPHORE = 0x1;
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);
}

/// <summary>
/// eventfd helpers for the data path: the 8-byte counter lives on the stack, nothing is
/// allocated, EINTR is retried. A kick or call fd is a plain <c>int</c> here; ownership stays
/// with the control plane.
/// </summary>
public static unsafe class EventFd
{
    /// <summary>Creates a non-blocking, close-on-exec eventfd or throws.</summary>
    /// <summary>
    /// True if <paramref name="fd"/> can serve as a kick, call or err fd: an eventfd (an
    /// anonymous inode, no file type) or a pipe, as the protocol says (reference §1.3). Anything
    /// else is refused up front: a memory file or a socket cannot wait in epoll (or writes to
    /// it grow a file, or block), which a worker must never find out on its own.
    /// </summary>
    public static bool IsNotifier(int fd)
    {
        if (fd < 0 || Syscall.fstat(fd, out Stat st) != 0)
        {
            return false;
        }
        FilePermissions type = st.st_mode & FilePermissions.S_IFMT;
        return type == 0 || type == FilePermissions.S_IFIFO;
    }

    public static int Create(bool nonBlocking = true)
    {
        int flags = LibC.EFD_CLOEXEC | (nonBlocking ? LibC.EFD_NONBLOCK : 0);
        int fd = LibC.eventfd(0, flags);
        if (fd < 0)
        {
            throw new IOException($"eventfd failed: errno {LibC.Errno}");
        }
        return fd;
    }

    /// <summary>Adds 1 to the counter. Returns false on an error other than EINTR.</summary>
    public static bool Signal(int fd)
    {
        ulong one = 1;
        while (true)
        {
            nint n = LibC.write(fd, &one, 8);
            if (n == 8)
            {
                return true;
            }
            // EAGAIN means the counter is saturated: the peer will wake anyway.
            int e = LibC.Errno;
            if (n < 0 && e == LibC.EINTR)
            {
                continue;
            }
            return n < 0 && e == LibC.EAGAIN;
        }
    }

    /// <summary>Reads and resets the counter of a non-blocking eventfd; 0 if it was 0.</summary>
    public static ulong Drain(int fd)
    {
        ulong v = 0;
        while (true)
        {
            nint n = LibC.read(fd, &v, 8);
            if (n == 8)
            {
                return v;
            }
            if (n < 0 && LibC.Errno == LibC.EINTR)
            {
                continue;
            }
            return 0;
        }
    }
}

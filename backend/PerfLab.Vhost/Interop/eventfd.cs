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

    /// <summary>
    /// Checks that an fd a front-end passed is an eventfd (kick, call and err fds must be: a
    /// socket or pipe could block a write, a regular file cannot be polled) and makes it
    /// non-blocking, so that a front-end which fills the counter, or reads it behind our back,
    /// cannot stall a worker. O_NONBLOCK is per open file description, shared with the front-end:
    /// QEMU, DPDK and rust-vmm front-ends create their eventfds non-blocking anyway.
    /// Returns null if fine, or why not. Control plane (reads /proc, allocates).
    /// </summary>
    public static string? AdoptForeign(int fd)
    {
        string? kind = LibC.FdTarget(fd);
        if (kind != "anon_inode:[eventfd]")
        {
            return kind == null ? "must be an eventfd (not an open fd)" : $"must be an eventfd, not {kind}";
        }
        int fl = LibC.fcntl(fd, LibC.F_GETFL, 0);
        if (fl < 0 || ((fl & LibC.O_NONBLOCK) == 0 && LibC.fcntl(fd, LibC.F_SETFL, fl | LibC.O_NONBLOCK) != 0))
        {
            return $"must be an eventfd that can be made non-blocking (fcntl: errno {LibC.Errno})";
        }
        return null;
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

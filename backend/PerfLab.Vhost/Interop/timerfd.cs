using System.Runtime.InteropServices;

#pragma warning disable CS8981 // C names are kept verbatim in Interop/
namespace PerfLab.Vhost.Interop;

[StructLayout(LayoutKind.Sequential)]
public struct itimerspec
{
    public timespec it_interval;
    public timespec it_value;
}

public static unsafe partial class LibC
{
    public const int TFD_NONBLOCK = 0x800;
    public const int TFD_CLOEXEC = 0x80000;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int timerfd_create(int clockid, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int timerfd_settime(int fd, int flags, itimerspec* newValue, itimerspec* oldValue);
}

/// <summary>A periodic timer as an fd, for an epoll set: armed once, it fires every period
/// without a system call per sleep (a one-shot timeout arms and cancels a kernel timer at
/// every sleep).</summary>
public static unsafe class TimerFd
{
    public static int Create()
    {
        int fd = LibC.timerfd_create(LibC.CLOCK_MONOTONIC, LibC.TFD_NONBLOCK | LibC.TFD_CLOEXEC);
        if (fd < 0)
        {
            throw new IOException($"timerfd_create failed: errno {LibC.Errno}");
        }
        return fd;
    }

    /// <summary>Fires every <paramref name="periodNs"/> from now; 0 stops it. Either way what
    /// fired before is forgotten (the fd is no longer readable).</summary>
    public static void SetPeriodic(int fd, long periodNs)
    {
        timespec t = new() { tv_sec = periodNs / 1_000_000_000, tv_nsec = periodNs % 1_000_000_000 };
        itimerspec s = new() { it_interval = t, it_value = t };
        LibC.timerfd_settime(fd, 0, &s, null);
    }

    /// <summary>Reads the expirations since the last read (0: none), as an eventfd's count.</summary>
    public static ulong Drain(int fd) => EventFd.Drain(fd);
}

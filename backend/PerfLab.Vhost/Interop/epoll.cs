using System.Runtime.InteropServices;

#pragma warning disable CS8981 // C names are kept verbatim in Interop/
namespace PerfLab.Vhost.Interop;

/// <summary>x86-64 <c>struct epoll_event</c> is packed: events at 0, data at 4, 12 bytes.</summary>
[StructLayout(LayoutKind.Explicit, Pack = 4, Size = 12)]
public struct epoll_event
{
    [FieldOffset(0)] public uint events;
    [FieldOffset(4)] public ulong data;
}

public static unsafe partial class LibC
{
    public const uint EPOLLIN = 0x001;
    public const uint EPOLLOUT = 0x004;
    public const uint EPOLLERR = 0x008;
    public const uint EPOLLHUP = 0x010;
    public const uint EPOLLET = 1u << 31;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const int EPOLL_CTL_MOD = 3;
    public const int EPOLL_CLOEXEC = 0x80000;

    // Bound here rather than through Mono.Posix: epoll_wait sits on the interrupt-mode data
    // path and must take a stack buffer, not a managed array.
    [LibraryImport(Lib, SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, int fd, epoll_event* ev);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int epoll_wait(int epfd, epoll_event* events, int maxevents, int timeout);

    /// <summary>Linux 5.11+, glibc 2.35+: the timeout is a timespec (ns), not ms.</summary>
    [LibraryImport(Lib, SetLastError = true)]
    public static partial int epoll_pwait2(int epfd, epoll_event* events, int maxevents, timespec* timeout, void* sigmask);
}

/// <summary>A small owned epoll set. Adding and removing is control plane; Wait is data plane.</summary>
public sealed unsafe class EpollSet : IDisposable
{
    private int _epfd;

    public EpollSet()
    {
        _epfd = LibC.epoll_create1(LibC.EPOLL_CLOEXEC);
        if (_epfd < 0)
        {
            throw new IOException($"epoll_create1 failed: errno {LibC.Errno}");
        }
    }

    public int Fd => _epfd;

    public void Add(int fd, ulong data) => Add(fd, data, LibC.EPOLLIN);

    public void Add(int fd, ulong data, uint events)
    {
        epoll_event ev = new() { events = events, data = data };
        if (LibC.epoll_ctl(_epfd, LibC.EPOLL_CTL_ADD, fd, &ev) != 0)
        {
            throw new IOException($"epoll_ctl(ADD, fd {fd}) failed: errno {LibC.Errno}");
        }
    }

    public void Remove(int fd)
    {
        epoll_event ev = default;
        LibC.epoll_ctl(_epfd, LibC.EPOLL_CTL_DEL, fd, &ev);
    }

    /// <summary>
    /// Waits for readiness; returns the number of ready fds (0 on timeout or EINTR). Ready
    /// entries' data are written to <paramref name="ready"/>. Allocation-free.
    /// </summary>
    public int Wait(Span<ulong> ready, int timeoutMs)
    {
        const int Max = 16;
        epoll_event* evs = stackalloc epoll_event[Max];
        int max = Math.Min(Max, ready.Length);
        int n = LibC.epoll_wait(_epfd, evs, max, timeoutMs);
        if (n <= 0)
        {
            return 0;
        }
        for (int i = 0; i < n; i++)
        {
            ready[i] = evs[i].data;
        }
        return n;
    }

    private static bool s_noPwait2;

    /// <summary>As <see cref="Wait"/>, with a timeout in nanoseconds (negative: forever). Uses
    /// epoll_pwait2; on kernels without it, rounds the timeout up to milliseconds.</summary>
    public int WaitNs(Span<ulong> ready, long timeoutNs)
    {
        if (timeoutNs < 0)
        {
            return Wait(ready, -1);
        }
        if (s_noPwait2)
        {
            return Wait(ready, (int)Math.Min(int.MaxValue, (timeoutNs + 999_999) / 1_000_000));
        }
        const int Max = 16;
        epoll_event* evs = stackalloc epoll_event[Max];
        int max = Math.Min(Max, ready.Length);
        timespec ts = new() { tv_sec = timeoutNs / 1_000_000_000, tv_nsec = timeoutNs % 1_000_000_000 };
        int n;
        try
        {
            n = LibC.epoll_pwait2(_epfd, evs, max, &ts, null);
        }
        catch (EntryPointNotFoundException)
        {
            s_noPwait2 = true;
            return WaitNs(ready, timeoutNs);
        }
        if (n < 0 && LibC.Errno == 38 /* ENOSYS */)
        {
            s_noPwait2 = true;
            return WaitNs(ready, timeoutNs);
        }
        if (n <= 0)
        {
            return 0;
        }
        for (int i = 0; i < n; i++)
        {
            ready[i] = evs[i].data;
        }
        return n;
    }

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _epfd, -1);
        LibC.CloseQuietly(fd);
    }
}

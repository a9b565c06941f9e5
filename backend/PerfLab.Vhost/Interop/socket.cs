using System.Runtime.InteropServices;

namespace PerfLab.Vhost.Interop;

// <sys/socket.h>: what Mono.Posix does not bind conveniently.
public static unsafe partial class LibC
{
    public const int SOL_SOCKET = 1;
    public const int SO_SNDTIMEO = 21;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int optname, void* optval, uint optlen);

    /// <summary>Bounds how long a blocking send on <paramref name="fd"/> may wait for room
    /// (SO_SNDTIMEO); it then fails with EAGAIN. Negative: no bound.</summary>
    public static bool SetSendTimeout(int fd, int timeoutMs)
    {
        timeval tv = timeoutMs < 0 ? default : new timeval { tv_sec = timeoutMs / 1000, tv_usec = timeoutMs % 1000 * 1000 };
        return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, (uint)sizeof(timeval)) == 0;
    }
}

using Mono.Unix.Native;
using PerfLab.Vhost.Interop;

namespace PerfLab.Vhost.Transport;

/// <summary>
/// AF_UNIX stream sockets through Mono.Posix: listen (server mode) and connect with retry
/// (client mode). Every fd is close-on-exec.
/// </summary>
public static class UnixSocket
{
    /// <summary>
    /// Creates a listening socket at <paramref name="path"/> with permissions
    /// <paramref name="mode"/> (default 0600). The socket is bound under a temporary name,
    /// chmod-ed, then renamed into place, so it is never reachable with wider permissions. A
    /// stale socket file is replaced only if nothing listens on it.
    /// </summary>
    public static int Listen(string path, FilePermissions mode = FilePermissions.S_IRUSR | FilePermissions.S_IWUSR, int backlog = 4)
    {
        if (File.Exists(path) || IsSocketFile(path))
        {
            if (CanConnect(path))
            {
                throw new IOException($"socket {path} is in use: another process listens on it");
            }
            if (!IsSocketFile(path))
            {
                throw new IOException($"{path} exists and is not a socket; refusing to replace it");
            }
            File.Delete(path);
        }
        string dir = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        string tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        if (System.Text.Encoding.UTF8.GetByteCount(tmp) >= 108)
        {
            throw new IOException($"socket path too long for AF_UNIX (108 bytes): {tmp}");
        }
        File.Delete(tmp);
        int fd = Syscall.socket(UnixAddressFamily.AF_UNIX, UnixSocketType.SOCK_STREAM, UnixSocketFlags.SOCK_CLOEXEC, (UnixSocketProtocol)0);
        if (fd < 0)
        {
            throw Error("socket");
        }
        try
        {
            if (Syscall.bind(fd, new SockaddrUn(tmp)) != 0)
            {
                throw Error($"bind {tmp}");
            }
            if (Syscall.chmod(tmp, mode) != 0)
            {
                throw Error($"chmod {tmp}");
            }
            if (Stdlib.rename(tmp, path) != 0)
            {
                throw Error($"rename {tmp} -> {path}");
            }
            if (Syscall.listen(fd, backlog) != 0)
            {
                throw Error("listen");
            }
            return fd;
        }
        catch
        {
            Syscall.close(fd);
            File.Delete(tmp);
            throw;
        }
    }

    /// <summary>
    /// Waits for a connection on <paramref name="listenFd"/> or a signal on
    /// <paramref name="wakeFd"/> (an eventfd; -1 for none). Returns the connected fd, or -1 if
    /// woken, timed out or interrupted.
    /// </summary>
    public static int Accept(int listenFd, int wakeFd, int timeoutMs)
    {
        var fds = wakeFd >= 0
            ? new[] { new Pollfd { fd = listenFd, events = PollEvents.POLLIN }, new Pollfd { fd = wakeFd, events = PollEvents.POLLIN } }
            : new[] { new Pollfd { fd = listenFd, events = PollEvents.POLLIN } };
        int n = Syscall.poll(fds, timeoutMs);
        if (n <= 0 || (fds[0].revents & PollEvents.POLLIN) == 0)
        {
            return -1;
        }
        int c = Syscall.accept4(listenFd, new SockaddrUn(), UnixSocketFlags.SOCK_CLOEXEC);
        return c;
    }

    /// <summary>Connects once; returns the fd or -1 with errno set.</summary>
    public static int TryConnect(string path)
    {
        int fd = Syscall.socket(UnixAddressFamily.AF_UNIX, UnixSocketType.SOCK_STREAM, UnixSocketFlags.SOCK_CLOEXEC, (UnixSocketProtocol)0);
        if (fd < 0)
        {
            return -1;
        }
        if (Syscall.connect(fd, new SockaddrUn(path)) != 0)
        {
            Syscall.close(fd);
            return -1;
        }
        return fd;
    }

    /// <summary>
    /// Connects, retrying with exponential back-off from <paramref name="initialBackoff"/> up to
    /// <paramref name="maxBackoff"/> until <paramref name="timeout"/> elapses or
    /// <paramref name="cancel"/> fires. Throws on timeout.
    /// </summary>
    public static int Connect(string path, TimeSpan timeout, TimeSpan initialBackoff, TimeSpan maxBackoff, CancellationToken cancel = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        var backoff = initialBackoff;
        while (true)
        {
            int fd = TryConnect(path);
            if (fd >= 0)
            {
                return fd;
            }
            if (DateTime.UtcNow >= deadline || cancel.IsCancellationRequested)
            {
                throw new IOException($"could not connect to {path} within {timeout.TotalSeconds:F1} s");
            }
            cancel.WaitHandle.WaitOne(backoff);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, maxBackoff.Ticks));
        }
    }

    /// <summary>Creates a connected AF_UNIX stream socket pair (tests, in-process use).</summary>
    public static (int A, int B) Pair()
    {
        if (Syscall.socketpair(UnixAddressFamily.AF_UNIX, UnixSocketType.SOCK_STREAM, UnixSocketFlags.SOCK_CLOEXEC, (UnixSocketProtocol)0, out int a, out int b) != 0)
        {
            throw Error("socketpair");
        }
        return (a, b);
    }

    /// <summary>
    /// Null if <paramref name="fd"/>, passed by a front-end, is a stream socket (the back-end
    /// request channel of SET_BACKEND_REQ_FD must be one), else why not. Control plane.
    /// </summary>
    public static string? CheckForeignStream(int fd)
    {
        string? kind = LibC.FdTarget(fd);
        if (kind == null || Syscall.fstat(fd, out Stat st) != 0)
        {
            return "must be a UNIX stream socket (not an open fd)";
        }
        if ((st.st_mode & FilePermissions.S_IFMT) != FilePermissions.S_IFSOCK)
        {
            return $"must be a UNIX stream socket, not {kind}";
        }
        if (Syscall.getsockopt(fd, UnixSocketProtocol.SOL_SOCKET, UnixSocketOptionName.SO_TYPE, out int type) != 0 || type != (int)UnixSocketType.SOCK_STREAM)
        {
            return $"must be a UNIX stream socket, not a socket of type {type}";
        }
        return null;
    }

    public static bool CanConnect(string path)
    {
        int fd = TryConnect(path);
        if (fd < 0)
        {
            return false;
        }
        Syscall.close(fd);
        return true;
    }

    private static bool IsSocketFile(string path)
    {
        if (Syscall.lstat(path, out Stat st) != 0)
        {
            return false;
        }
        return (st.st_mode & FilePermissions.S_IFMT) == FilePermissions.S_IFSOCK;
    }

    private static IOException Error(string what) => new($"{what} failed: {Stdlib.GetLastError()}");

    /// <summary>Shuts a socket down so that a thread blocked on it returns.</summary>
    public static void Shutdown(int fd)
    {
        if (fd >= 0)
        {
            Syscall.shutdown(fd, ShutdownOption.SHUT_RDWR);
        }
    }

    public static void Close(int fd) => LibC.CloseQuietly(fd);
}

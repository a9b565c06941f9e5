using System.Runtime.InteropServices;

namespace PerfLab.Vhost.Interop;

/// <summary>
/// Raw libc bindings for what Mono.Posix lacks or what the data path must call without
/// allocating. One partial file per C header; C names are kept verbatim. Every call reports
/// errno through <see cref="Marshal.GetLastPInvokeError"/>.
/// </summary>
public static unsafe partial class LibC
{
    public const string Lib = "libc";

    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int EBADF = 9;
    public const int ENOENT = 2;
    public const int ECONNREFUSED = 111;

    public static int Errno => Marshal.GetLastPInvokeError();

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint read(int fd, void* buf, nint count);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint write(int fd, void* buf, nint count);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int dup(int fd);

    public const int F_GETFD = 1;
    public const int F_SETFD = 2;
    public const int F_GETFL = 3;
    public const int F_SETFL = 4;
    public const int FD_CLOEXEC = 1;
    public const int O_NONBLOCK = 0x800;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int ftruncate(int fd, long length);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int getpid();

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int execve(string path, nint* argv, nint* envp);

    /// <summary>Replaces this process's program (same pid, same fds not marked close-on-exec);
    /// returns only if that failed.</summary>
    public static void Execve(string path, string[] argv, string[] env)
    {
        nint* a = stackalloc nint[argv.Length + 1];
        nint* e = stackalloc nint[env.Length + 1];
        for (int i = 0; i < argv.Length; i++)
        {
            a[i] = Marshal.StringToCoTaskMemUTF8(argv[i]);
        }
        for (int i = 0; i < env.Length; i++)
        {
            e[i] = Marshal.StringToCoTaskMemUTF8(env[i]);
        }
        a[argv.Length] = 0;
        e[env.Length] = 0;
        execve(path, a, e);
        for (int i = 0; i < argv.Length; i++)
        {
            Marshal.FreeCoTaskMem(a[i]);
        }
        for (int i = 0; i < env.Length; i++)
        {
            Marshal.FreeCoTaskMem(e[i]);
        }
    }

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int gettid();

    /// <summary>What an fd refers to, as /proc/self/fd shows it ("socket:[123]",
    /// "anon_inode:[eventfd]", "/memfd:name (deleted)"), or null if it is not open. Control plane.</summary>
    public static string? FdTarget(int fd)
    {
        try
        {
            return new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Closes an fd, ignoring errors; negative fds are ignored.</summary>
    public static void CloseQuietly(int fd)
    {
        if (fd >= 0)
        {
            close(fd);
        }
    }
}

using System.Runtime.InteropServices;

#pragma warning disable CS8981 // C names are kept verbatim in Interop/
namespace PerfLab.Vhost.Interop;

[StructLayout(LayoutKind.Sequential)]
public struct timeval
{
    public long tv_sec;
    public long tv_usec;
}

/// <summary>Linux x86-64 <c>struct rusage</c>: two timevals then 14 longs (144 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct rusage
{
    public timeval ru_utime;
    public timeval ru_stime;
    public fixed long rest[14];
}

/// <summary><c>struct rlimit</c>: soft and hard limit.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct rlimit
{
    public ulong rlim_cur;
    public ulong rlim_max;
}

public static unsafe partial class LibC
{
    public const int RLIMIT_NOFILE = 7;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int getrlimit(int resource, rlimit* rlim);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int setrlimit(int resource, rlimit* rlim);

    /// <summary>The open-file limit (soft, hard); false if it cannot be read.</summary>
    public static bool GetFdLimit(out ulong soft, out ulong hard)
    {
        rlimit r;
        bool ok = getrlimit(RLIMIT_NOFILE, &r) == 0;
        (soft, hard) = (r.rlim_cur, r.rlim_max);
        return ok;
    }

    /// <summary>Sets the soft open-file limit (at most the hard one); false if refused.</summary>
    public static bool SetFdSoftLimit(ulong soft, ulong hard)
    {
        rlimit r = new() { rlim_cur = soft, rlim_max = hard };
        return setrlimit(RLIMIT_NOFILE, &r) == 0;
    }

    public const int RUSAGE_SELF = 0;
    public const int RUSAGE_THREAD = 1;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int getrusage(int who, rusage* usage);
}

using System.Runtime.InteropServices;

#pragma warning disable CS8981 // C names are kept verbatim in Interop/
namespace PerfLab.Vhost.Interop;

[StructLayout(LayoutKind.Sequential)]
public struct timespec
{
    public long tv_sec;
    public long tv_nsec;
}

public static unsafe partial class LibC
{
    public const int CLOCK_MONOTONIC = 1;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int clock_nanosleep(int clockid, int flags, timespec* request, timespec* remain);
}

/// <summary>Sub-millisecond sleeps. .NET's Thread.Sleep only takes milliseconds (and Sleep(1)
/// sleeps past a whole millisecond), so short backoff sleeps go to the kernel.</summary>
public static unsafe class NanoSleep
{
    public static void Sleep(long ns)
    {
        timespec ts = new() { tv_sec = ns / 1_000_000_000, tv_nsec = ns % 1_000_000_000 };
        // EINTR: the remaining time is ignored; a short sleep is harmless to every caller.
        LibC.clock_nanosleep(LibC.CLOCK_MONOTONIC, 0, &ts, null);
    }
}

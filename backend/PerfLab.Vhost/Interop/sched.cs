using System.Runtime.InteropServices;

namespace PerfLab.Vhost.Interop;

public static unsafe partial class LibC
{
    [LibraryImport(Lib, SetLastError = true)]
    public static partial int sched_setaffinity(int pid, nint cpusetsize, ulong* mask);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int sched_getaffinity(int pid, nint cpusetsize, ulong* mask);

    public const int PR_SET_TIMERSLACK = 29;
    public const int PR_SET_NAME = 15;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);
}

/// <summary>Thread placement helpers (Linux only, optional everywhere).</summary>
public static unsafe class Affinity
{
    /// <summary>Pins the calling thread to one CPU. Returns false if the kernel refused.</summary>
    public static bool PinCurrentThread(int cpu)
    {
        if (cpu < 0 || cpu >= 1024)
        {
            return false;
        }
        ulong* mask = stackalloc ulong[16];
        for (int i = 0; i < 16; i++)
        {
            mask[i] = 0;
        }
        mask[cpu / 64] = 1UL << (cpu % 64);
        return LibC.sched_setaffinity(0, 16 * sizeof(ulong), mask) == 0;
    }

    /// <summary>The CPUs this process may run on.</summary>
    public static int AllowedCpuCount()
    {
        ulong* mask = stackalloc ulong[16];
        if (LibC.sched_getaffinity(0, 16 * sizeof(ulong), mask) != 0)
        {
            return Environment.ProcessorCount;
        }
        int n = 0;
        for (int i = 0; i < 16; i++)
        {
            n += System.Numerics.BitOperations.PopCount(mask[i]);
        }
        return n;
    }

    /// <summary>
    /// Sets this thread's timer slack (ns). The default 50 µs makes every short sleep at least
    /// 50 µs late; backoff strategies set 1 µs.
    /// </summary>
    public static bool SetTimerSlack(ulong ns) => LibC.prctl(LibC.PR_SET_TIMERSLACK, (nuint)ns, 0, 0, 0) == 0;
}

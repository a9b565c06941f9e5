using PerfLab.Vhost.Interop;

namespace PerfLab.Vhost.Diagnostics;

/// <summary>User and system CPU time in nanoseconds, from getrusage (1 µs resolution).</summary>
public readonly record struct CpuTime(long UserNs, long SysNs)
{
    public long TotalNs => UserNs + SysNs;

    public static CpuTime operator -(CpuTime a, CpuTime b) => new(a.UserNs - b.UserNs, a.SysNs - b.SysNs);

    /// <summary>The whole process, all threads.</summary>
    public static CpuTime Process() => Read(LibC.RUSAGE_SELF);

    /// <summary>The calling thread only.</summary>
    public static CpuTime Thread() => Read(LibC.RUSAGE_THREAD);

    private static unsafe CpuTime Read(int who)
    {
        rusage ru;
        if (LibC.getrusage(who, &ru) != 0)
        {
            return default;
        }
        return new CpuTime(
            ru.ru_utime.tv_sec * 1_000_000_000 + ru.ru_utime.tv_usec * 1000,
            ru.ru_stime.tv_sec * 1_000_000_000 + ru.ru_stime.tv_usec * 1000);
    }

    /// <summary>
    /// CPU time of another process in ns, summed over its threads from
    /// /proc/PID/task/*/schedstat (ns resolution; works for any process we may read, DPDK
    /// included). Returns -1 if the process is gone.
    /// </summary>
    public static long OfProcess(int pid)
    {
        try
        {
            long total = 0;
            foreach (string task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                try
                {
                    string s = File.ReadAllText(Path.Combine(task, "schedstat"));
                    int sp = s.IndexOf(' ');
                    total += long.Parse(sp < 0 ? s.Trim() : s[..sp], System.Globalization.CultureInfo.InvariantCulture);
                }
                catch (IOException)
                {
                    // thread exited between listing and reading
                }
            }
            return total;
        }
        catch (DirectoryNotFoundException)
        {
            return -1;
        }
    }
}

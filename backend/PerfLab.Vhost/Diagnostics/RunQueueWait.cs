using System.Globalization;

namespace PerfLab.Vhost.Diagnostics;

/// <summary>
/// How long threads were runnable but not running (the second field of Linux's
/// /proc/.../schedstat, in ns): the time another thread or the kernel held their CPU. A polling
/// thread that waited 5 ms delayed every frame of those 5 ms, so this is what turns a p99 of
/// µs into ms on a host whose CPUs are shared (docs/method.md#why-p99-can-be-in-milliseconds). Read
/// outside the measured window: it opens files. -1 when not known.
/// </summary>
public static class RunQueueWait
{
    /// <summary>The calling thread's wait.</summary>
    public static long OfCurrentThread() => Read("/proc/thread-self/schedstat");

    /// <summary>One thread of a process.</summary>
    public static long OfThread(int pid, int tid) => pid > 0 && tid > 0 ? Read($"/proc/{pid}/task/{tid}/schedstat") : -1;

    /// <summary>The sum over some threads of a process (-1 if any is unknown).</summary>
    public static long OfThreads(int pid, IEnumerable<int> tids)
    {
        long sum = 0;
        bool any = false;
        foreach (int tid in tids)
        {
            long w = OfThread(pid, tid);
            if (w < 0)
            {
                return -1;
            }
            sum += w;
            any = true;
        }
        return any ? sum : -1;
    }

    /// <summary>The sum over every thread of a process (testpmd, which has no stats socket).</summary>
    public static long OfProcess(int pid)
    {
        if (pid <= 0)
        {
            return -1;
        }
        try
        {
            long sum = 0;
            foreach (string task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                long w = Read(Path.Combine(task, "schedstat"));
                sum += Math.Max(0, w);
            }
            return sum;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return -1;
        }
    }

    /// <summary>Parses "run_ns wait_ns timeslices".</summary>
    public static long Parse(string schedstat)
    {
        string[] f = schedstat.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return f.Length >= 2 && long.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out long w) ? w : -1;
    }

    private static long Read(string path)
    {
        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return -1;
        }
    }
}

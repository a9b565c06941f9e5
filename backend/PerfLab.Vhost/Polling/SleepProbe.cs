using System.Globalization;
using System.Runtime.Intrinsics.X86;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Interop;

namespace PerfLab.Vhost.Polling;

/// <summary>
/// Measures what each way of waiting really costs on this machine: how long a request to
/// sleep (or yield, or pause) actually takes, median and 99th percentile. This is why the
/// backoff strategy sleeps with clock_nanosleep and a 1 µs timer slack rather than
/// Thread.Sleep, whose smallest non-zero sleep is a millisecond. And, across the two CPUs,
/// what the hybrid strategy's two knobs stand for: how long a thread asleep in epoll takes to
/// run again after the other CPU signals its eventfd (<c>--hybrid-notify-poll-us</c> must cover
/// it), and how much CPU one sleep costs the sleeper (<c>--hybrid-breakeven-us</c>).
/// </summary>
public static class SleepProbe
{
    public readonly record struct Row(string What, double RequestedUs, double MedianUs, double P99Us, int Samples);

    public static List<Row> Measure(Action<string>? progress = null)
    {
        var rows = new List<Row>();
        void Add(string what, double requestedUs, int n, Action wait)
        {
            progress?.Invoke(what);
            var samples = new double[n];
            for (int i = 0; i < Math.Min(n, 20); i++)
            {
                wait(); // warm-up
            }
            for (int i = 0; i < n; i++)
            {
                long t0 = Clock.Now();
                wait();
                samples[i] = Clock.TicksToNs(Clock.Now() - t0) / 1000;
            }
            Array.Sort(samples);
            rows.Add(new Row(what, requestedUs, samples[n / 2], samples[(int)(n * 0.99)], n));
        }

        Add("X86Base.Pause (spin hint)", 0, 20000, () => { if (X86Base.IsSupported) { X86Base.Pause(); } });
        Add("Thread.SpinWait(1)", 0, 20000, () => Thread.SpinWait(1));
        Add("Thread.Yield()", 0, 5000, () => Thread.Yield());
        Add("Thread.Sleep(0)", 0, 5000, () => Thread.Sleep(0));
        Add("Thread.Sleep(1)", 1000, 200, () => Thread.Sleep(1));
        ulong slack = 50_000;
        foreach (long ns in new long[] { 1_000, 10_000, 50_000 })
        {
            Add($"clock_nanosleep, default 50 us timer slack", ns / 1000.0, 500, () => NanoSleep.Sleep(ns));
        }
        Affinity.SetTimerSlack(1000);
        foreach (long ns in new long[] { 1_000, 10_000, 50_000 })
        {
            Add($"clock_nanosleep, 1 us timer slack", ns / 1000.0, 1000, () => NanoSleep.Sleep(ns));
        }
        using (var ep = new EpollSet())
        {
            int efd = EventFd.Create();
            ep.Add(efd, 1);
            Span<ulong> ready = stackalloc ulong[4];
            foreach (long ns in new long[] { 10_000, 50_000 })
            {
                var arr = new ulong[4];
                Add($"epoll_pwait2 timeout, 1 us slack", ns / 1000.0, 1000, () => ep.WaitNs(arr, ns));
            }
            LibC.close(efd);
        }
        Affinity.SetTimerSlack(slack);
        if (Environment.ProcessorCount >= 2)
        {
            progress?.Invoke("wake-ups across CPUs");
            rows.AddRange(CrossCpuWakeups(2000));
        }
        return rows;
    }

    /// <summary>
    /// A sleeper pinned to CPU 1 blocks in epoll on an eventfd; this thread, pinned to CPU 0,
    /// waits until the sleeper has been blocked for 100 µs (its vCPU idle), stamps the clock and
    /// signals. The sleeper's latency is from the stamp to running again; its CPU per sleep is
    /// its thread's CPU time over the run, divided by the sleeps.
    /// </summary>
    private static IEnumerable<Row> CrossCpuWakeups(int n)
    {
        int efd = EventFd.Create();
        using var ep = new EpollSet();
        ep.Add(efd, 1);
        var latency = new double[n];
        long stamp = 0;
        int waiting = 0;
        double cpuNs = 0;
        var sleeper = new Thread(() =>
        {
            Affinity.PinCurrentThread(1);
            Affinity.SetTimerSlack(1000);
            var ready = new ulong[4];
            CpuTime c0 = CpuTime.Thread();
            for (int i = 0; i < n; i++)
            {
                Volatile.Write(ref waiting, i + 1);
                ep.Wait(ready, -1);
                long now = Clock.Now();
                EventFd.Drain(efd);
                latency[i] = Clock.TicksToNs(now - Volatile.Read(ref stamp)) / 1000;
            }
            cpuNs = (CpuTime.Thread() - c0).TotalNs;
        }) { IsBackground = true, Name = "sleep-probe" };
        Affinity.PinCurrentThread(0);
        sleeper.Start();
        long idle = Clock.NsToTicks(100_000);
        for (int i = 0; i < n; i++)
        {
            while (Volatile.Read(ref waiting) != i + 1)
            {
                Pause.Once();
            }
            long from = Clock.Now();
            long until = from + idle;
            while (!Clock.Expired(Clock.Now(), from, until))
            {
                Pause.Once();
            }
            Volatile.Write(ref stamp, Clock.Now());
            EventFd.Signal(efd);
        }
        sleeper.Join();
        LibC.close(efd);
        Array.Sort(latency);
        yield return new Row("wake-up of a thread asleep in epoll on the other CPU (eventfd)", 0, latency[n / 2], latency[(int)(n * 0.99)], n);
        yield return new Row("CPU one such sleep costs the sleeper (mean)", 0, cpuNs / n / 1000, double.NaN, n);
    }

    public static string Format(List<Row> rows)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        sb.AppendLine("| wait | requested µs | median µs | p99 µs | samples |");
        sb.AppendLine("|---|---:|---:|---:|---:|");
        foreach (Row r in rows)
        {
            sb.AppendLine(string.Create(ci, $"| {r.What} | {r.RequestedUs:0.###} | {r.MedianUs:0.###} | {(double.IsNaN(r.P99Us) ? "-" : r.P99Us.ToString("0.###", ci))} | {r.Samples} |"));
        }
        sb.AppendLine(string.Create(ci, $"\nclock: {Clock.Source} at {Clock.TicksPerSecond / 1e6:F1} MHz; {Environment.ProcessorCount} CPUs; kernel {Environment.OSVersion.VersionString}"));
        return sb.ToString();
    }
}

using System.Globalization;
using System.Runtime.Intrinsics.X86;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Interop;

namespace PerfLab.Vhost.Polling;

/// <summary>
/// Measures what each way of waiting really costs on this machine: how long a request to
/// sleep (or yield, or pause) actually takes, median and 99th percentile. This is why the
/// backoff strategy sleeps with clock_nanosleep and a 1 µs timer slack rather than
/// Thread.Sleep, whose smallest non-zero sleep is a millisecond.
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
        return rows;
    }

    public static string Format(List<Row> rows)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        sb.AppendLine("| wait | requested µs | median µs | p99 µs | samples |");
        sb.AppendLine("|---|---:|---:|---:|---:|");
        foreach (Row r in rows)
        {
            sb.AppendLine(string.Create(ci, $"| {r.What} | {r.RequestedUs:0.###} | {r.MedianUs:0.###} | {r.P99Us:0.###} | {r.Samples} |"));
        }
        sb.AppendLine(string.Create(ci, $"\nclock: {Clock.Source} at {Clock.TicksPerSecond / 1e6:F1} MHz; {Environment.ProcessorCount} CPUs; kernel {Environment.OSVersion.VersionString}"));
        return sb.ToString();
    }
}

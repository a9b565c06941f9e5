namespace PerfLab.Backend.Logging;

/// <summary>
/// One-line log records on stderr (stdout carries the stats lines). Control plane only, except
/// <see cref="RateLimited"/>, which the data plane calls on faults (rare by construction).
/// </summary>
public static class Log
{
    private static readonly object s_lock = new();

    /// <summary>Minimum level printed: 0 debug, 1 info, 2 warn, 3 error.</summary>
    public static int Level { get; set; } = 1;

    /// <summary>Tests can capture records here instead of (as well as) stderr.</summary>
    public static Action<string>? Sink { get; set; }

    public static bool Quiet { get; set; }

    public static void Debug(string msg) => Write(0, "debug", msg);

    public static void Info(string msg) => Write(1, "info", msg);

    public static void Warn(string msg) => Write(2, "warn", msg);

    public static void Error(string msg) => Write(3, "error", msg);

    private static long s_lastRateLimited;
    private static long s_suppressed;

    /// <summary>
    /// Logs at most one record per second process-wide; the rest are counted and the count is
    /// reported with the next record that gets through.
    /// </summary>
    public static void RateLimited(string msg)
    {
        long now = Environment.TickCount64;
        long last = Interlocked.Read(ref s_lastRateLimited);
        if (now - last < 1000 || Interlocked.CompareExchange(ref s_lastRateLimited, now, last) != last)
        {
            Interlocked.Increment(ref s_suppressed);
            return;
        }
        long n = Interlocked.Exchange(ref s_suppressed, 0);
        Write(3, "error", n > 0 ? $"{msg} ({n} similar records suppressed)" : msg);
    }

    /// <summary>Lets the next rate-limited record through (tests that expect one record per fault).</summary>
    internal static void ResetRateLimit()
    {
        Interlocked.Exchange(ref s_lastRateLimited, 0);
        Interlocked.Exchange(ref s_suppressed, 0);
    }

    private static void Write(int level, string tag, string msg)
    {
        if (level < Level)
        {
            return;
        }
        string line = $"{DateTime.Now:HH:mm:ss.fff} [{tag}] {msg}";
        Sink?.Invoke(line);
        if (Quiet)
        {
            return;
        }
        lock (s_lock)
        {
            Console.Error.WriteLine(line);
        }
    }
}

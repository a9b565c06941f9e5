using Microsoft.Extensions.Logging;

namespace PerfLab.Backend.Logging;

/// <summary>
/// The back-end's loggers: one-line records on stderr (stdout carries the stats lines), as
/// <c>HH:mm:ss.fff [level] message</c>. Records are written through the source-generated
/// methods of <see cref="BackendLog"/>, which check the level before formatting anything. The
/// data plane logs only faults, through <see cref="DataPlaneLimit"/>.
/// </summary>
public static class Log
{
    private static readonly object s_lock = new();
    private static readonly Dictionary<string, ILogger> s_named = [];

    /// <summary>Least severe level written (Information by default; --quiet: Warning).</summary>
    public static LogLevel MinimumLevel { get; set; } = LogLevel.Information;

    /// <summary>Tests can capture records here as well as on stderr.</summary>
    public static Action<string>? Sink { get; set; }

    /// <summary>Nothing on stderr (the sink still gets every record).</summary>
    public static bool Quiet { get; set; }

    /// <summary>The process's logger (records without a name).</summary>
    public static ILogger Default { get; } = new LineLogger(null);

    /// <summary>A logger whose records start with "<paramref name="name"/>: " (one per device).</summary>
    public static ILogger For(string name)
    {
        lock (s_named)
        {
            if (!s_named.TryGetValue(name, out ILogger? l))
            {
                s_named[name] = l = new LineLogger(name);
            }
            return l;
        }
    }

    /// <summary>The data plane's records: at most one per second process-wide; the others are
    /// counted and the count goes with the next record that gets through.</summary>
    public static RateLimit DataPlaneLimit { get; } = new(1000);

    /// <summary>Lets the next rate-limited record through (tests that expect one record per fault).</summary>
    internal static void ResetRateLimit() => DataPlaneLimit.Reset();

    private sealed class LineLogger(string? name) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel level) => level != LogLevel.None && level >= MinimumLevel;

        public void Log<TState>(LogLevel level, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(level))
            {
                return;
            }
            string tag = level switch
            {
                LogLevel.Trace => "trace",
                LogLevel.Debug => "debug",
                LogLevel.Information => "info",
                LogLevel.Warning => "warn",
                LogLevel.Error => "error",
                _ => "fatal",
            };
            string message = formatter(state, exception);
            string line = $"{DateTime.Now:HH:mm:ss.fff} [{tag}] {(name != null ? name + ": " : "")}{message}{(exception != null ? ": " + exception : "")}";
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
}

/// <summary>At most one record per <c>periodMs</c>, whoever asks; the rest are counted.</summary>
public sealed class RateLimit(long periodMs)
{
    private long _last = long.MinValue / 2;
    private long _suppressed;

    /// <summary>True if a record may go out now; <paramref name="suppressed"/>: how many were
    /// refused since the last one that went out.</summary>
    public bool TryEnter(out long suppressed)
    {
        long now = Environment.TickCount64;
        long last = Interlocked.Read(ref _last);
        if (now - last < periodMs || Interlocked.CompareExchange(ref _last, now, last) != last)
        {
            Interlocked.Increment(ref _suppressed);
            suppressed = 0;
            return false;
        }
        suppressed = Interlocked.Exchange(ref _suppressed, 0);
        return true;
    }

    public void Reset()
    {
        Interlocked.Exchange(ref _last, long.MinValue / 2);
        Interlocked.Exchange(ref _suppressed, 0);
    }
}

using System.CommandLine;
using System.Globalization;
using PerfLab.Reports.Store;

namespace PerfLab.Reports.Cli.Commands;

/// <summary>The options compare, history and import share: where the store is, the threshold,
/// the metrics.</summary>
public static class StoreOptions
{
    public static Option<string?> Store() => new("--store")
    {
        Description = $"the results store: a SQLite file (default reports/{StoreLocation.DefaultFileName}, or ${StoreLocation.EnvironmentVariable}) or a PostgreSQL connection string (\"Host=...;Database=...;Username=...\")",
    };

    public static Option<string> Threshold() => new("--threshold")
    {
        Description = "the smallest change that matters, as 5% or 0.05 (default 5%)",
        DefaultValueFactory = _ => "5%",
    };

    public static Option<string[]> Metric() => new("--metric")
    {
        Description = "metrics to judge (repeatable; p99_us means p99_us at every load point); default: NDR, PDR, p50/p99 at each load, back-end CPU per frame",
        AllowMultipleArgumentsPerToken = true,
    };

    public static StoreLocation Location(string? spec) => StoreLocation.Parse(spec, ReportsRoot.Find());

    /// <summary>"5%", "5 %", "0.05" → 0.05.</summary>
    public static double ParseThreshold(string text)
    {
        string t = text.Trim();
        bool pct = t.EndsWith('%');
        if (pct)
        {
            t = t[..^1].Trim();
        }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
        {
            throw new BadInputException($"--threshold: '{text}' is not a number (5% or 0.05)");
        }
        v = pct || v >= 1 ? v / 100 : v;
        if (!(v > 0 && v < 10))
        {
            throw new BadInputException($"--threshold must be above 0, not '{text}'");
        }
        return v;
    }
}

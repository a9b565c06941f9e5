using System.Globalization;
using System.Reflection;
using System.Text.Json;
using HdrHistogram;
using PerfLab.LoadGen;

namespace PerfLab.Bench.EndToEnd;

/// <summary>What one iteration (every one BenchmarkDotNet runs, warm-up included) left behind.</summary>
public sealed record IterationRecord
{
    /// <summary>0-based order of the IterationSetup call in this process.</summary>
    public int Index { get; init; }

    /// <summary>Frames received short of the target when the invocation's deadline passed.</summary>
    public long Missing { get; init; }

    /// <summary>Sequence, length, content and descriptor-id errors in this iteration.</summary>
    public long Errors { get; init; }

    /// <summary>The load generator's figures over the iteration (its own clock window).</summary>
    public LoadGenResult Result { get; init; } = new();

    /// <summary>The back-end's CPU time between its two snapshots, and the time between them by
    /// its own clock: its CPU share, free of how long the stats socket took to answer (which
    /// the load generator's window cannot see). -1: no stats socket (CPU from /proc instead,
    /// read at the window's edges).</summary>
    public long BackendCpuNs { get; init; } = -1;
    public long BackendIntervalNs { get; init; } = -1;

    /// <summary>The back-end's CPU share in % of one core over the iteration, or NaN.</summary>
    public double BackendCpuPct => BackendIntervalNs > 0 ? 100.0 * BackendCpuNs / BackendIntervalNs
        : Result.BackendCpuNs >= 0 ? Result.BackendCpuPct : double.NaN;
}

/// <summary>One benchmark process's side data for one case (one launch).</summary>
public sealed record SideDataFile
{
    public string Key { get; init; } = "";
    public int Pid { get; init; }
    public DateTime StartedUtc { get; init; }
    public double OfferedPps { get; init; }
    public List<IterationRecord> Iterations { get; init; } = [];
}

/// <summary>
/// BenchmarkDotNet runs each case in a child process and keeps only timings. The figures it
/// does not know (latency histograms, CPU, notifications, the back-end's GCs) are written by
/// the child, per iteration, into the run's raw folder (env <see cref="RunDirVariable"/>):
/// KEY.PID.json and KEY.PID.hlog (HdrHistogram log, one interval histogram per iteration,
/// tagged with its index). The host matches them to BenchmarkDotNet's measurements after
/// the run (<see cref="Host.ReportBuilder"/>).
/// </summary>
public static class SideData
{
    public const string RunDirVariable = "PERFLAB_BENCH_RUN_DIR";

    /// <summary>The raw folder of the current run, or null outside a PerfLab run.</summary>
    public static string? RunDir => Environment.GetEnvironmentVariable(RunDirVariable) is { Length: > 0 } d ? d : null;

    /// <summary>A file-name-safe key from parameter names and values, in name order.</summary>
    public static string Key(IEnumerable<(string Name, object? Value)> parameters) =>
        string.Join("_", parameters.OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => $"{p.Name}-{Format(p.Value)}"));

    private static string Format(object? v) => v switch
    {
        null => "null",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    /// <summary>The key of a benchmark instance: every property carrying a Params* attribute.</summary>
    public static string KeyOf(object benchmark) => Key(benchmark.GetType()
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.GetCustomAttributes().Any(a => a.GetType().Name.StartsWith("Params", StringComparison.Ordinal)))
        .Select(p => (p.Name, p.GetValue(benchmark))));

    public static void Write(string dir, SideDataFile file, IReadOnlyList<HistogramBase> histograms)
    {
        Directory.CreateDirectory(dir);
        string stem = Path.Combine(dir, $"{file.Key}.{file.Pid}");
        File.WriteAllText(stem + ".json", JsonSerializer.Serialize(file, PerfLab.Vhost.Diagnostics.Json.Indented));
        using var s = File.Create(stem + ".hlog");
        using var w = new HistogramLogWriter(s);
        w.Write(file.StartedUtc, histograms.ToArray());
    }

    /// <summary>Every launch's side data for <paramref name="key"/>, oldest first, with its
    /// histograms by iteration index.</summary>
    public static List<(SideDataFile File, Dictionary<int, HistogramBase> Histograms)> Read(string dir, string key)
    {
        var list = new List<(SideDataFile, Dictionary<int, HistogramBase>)>();
        if (!Directory.Exists(dir))
        {
            return list;
        }
        foreach (string json in Directory.EnumerateFiles(dir, key + ".*.json"))
        {
            var f = JsonSerializer.Deserialize<SideDataFile>(File.ReadAllText(json), PerfLab.Vhost.Diagnostics.Json.Compact);
            if (f is null || f.Key != key)
            {
                continue; // a longer key sharing the prefix
            }
            var hists = new Dictionary<int, HistogramBase>();
            string hlog = Path.ChangeExtension(json, ".hlog");
            if (File.Exists(hlog))
            {
                using var s = File.OpenRead(hlog);
                using var r = new HistogramLogReader(s);
                foreach (HistogramBase h in r.ReadHistograms())
                {
                    if (int.TryParse(h.Tag, NumberStyles.Integer, CultureInfo.InvariantCulture, out int i))
                    {
                        hists[i] = h;
                    }
                }
            }
            list.Add((f, hists));
        }
        return list.OrderBy(x => x.Item1.StartedUtc).ToList();
    }
}

using System.Globalization;
using CsvHelper;
using CsvHelper.Configuration;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Csv;

/// <summary>
/// The CSV files of a report folder (CsvHelper, invariant culture, a header row each). They
/// are the report's source of truth: the plots and report.md are rendered from them, and
/// <c>perflab-report render DIR</c> does it again.
/// </summary>
public static class ReportCsv
{
    public const string RunFile = "run.csv";
    public const string ConfigsFile = "configs.csv";
    public const string IterationsFile = "iterations.csv";
    public const string PercentilesFile = "latency-percentiles.csv";
    public const string MicroFile = "micro.csv";

    private static readonly CsvConfiguration Config = new(CultureInfo.InvariantCulture)
    {
        // Older folders may lack a column added later: read it as its default.
        HeaderValidated = null,
        MissingFieldFound = null,
    };

    public static void Write(Report r, string dir)
    {
        Directory.CreateDirectory(dir);
        WriteFile(Path.Combine(dir, RunFile), r.Run.Facts);
        WriteFile(Path.Combine(dir, ConfigsFile), r.Configs);
        WriteFile(Path.Combine(dir, IterationsFile), r.Iterations);
        WriteFile(Path.Combine(dir, PercentilesFile), r.Percentiles);
        WriteFile(Path.Combine(dir, MicroFile), r.Micro);
    }

    /// <summary>Reads a folder written by <see cref="Write"/>; a missing file reads as empty.</summary>
    public static Report Read(string dir)
    {
        if (!File.Exists(Path.Combine(dir, ConfigsFile)) && !File.Exists(Path.Combine(dir, MicroFile)))
        {
            throw new FileNotFoundException($"{dir} holds neither {ConfigsFile} nor {MicroFile}: not a report folder");
        }
        var run = new RunInfo();
        run.Facts.AddRange(ReadFile<RunFact>(Path.Combine(dir, RunFile)));
        return new Report
        {
            Run = run,
            Configs = ReadFile<ConfigResult>(Path.Combine(dir, ConfigsFile)),
            Iterations = ReadFile<IterationResult>(Path.Combine(dir, IterationsFile)),
            Percentiles = ReadFile<PercentilePoint>(Path.Combine(dir, PercentilesFile)),
            Micro = ReadFile<MicroResult>(Path.Combine(dir, MicroFile)),
        };
    }

    public static void WriteFile<T>(string path, IEnumerable<T> rows)
    {
        using var w = new StreamWriter(path);
        using var csv = new CsvWriter(w, Config);
        csv.WriteRecords(rows);
    }

    public static List<T> ReadFile<T>(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }
        using var r = new StreamReader(path);
        using var csv = new CsvReader(r, Config);
        return csv.GetRecords<T>().ToList();
    }
}

using System.Globalization;
using CsvHelper;
using CsvHelper.Configuration;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Reports.Csv;

/// <summary>
/// The CSV files of a report folder (CsvHelper, invariant culture, a header row each). They
/// are the report's source of truth: the plots and report.md are rendered from them, and
/// <c>perflab-report render DIR</c> does it again. rounds.csv has one row per round and
/// configuration and one column per metric, so a metric added later needs no new file.
/// summary.csv is derived (medians, intervals, ratios) and only written.
/// </summary>
public static class ReportCsv
{
    public const string RunFile = "run.csv";
    public const string ConfigsFile = "configs.csv";
    public const string RoundInfoFile = "round-info.csv";
    public const string RoundsFile = "rounds.csv";
    public const string TrialsFile = "trials.csv";
    public const string SummaryFile = "summary.csv";
    public const string PercentilesFile = "latency-percentiles.csv";
    public const string MicroFile = "micro.csv";

    /// <summary>The files a report folder must have to be read (and imported).</summary>
    public static readonly IReadOnlyList<string> Required = [RunFile, ConfigsFile, RoundsFile];

    private static readonly CsvConfiguration Config = new(CultureInfo.InvariantCulture)
    {
        // Older folders may lack a column added later: read it as its default.
        HeaderValidated = null,
        MissingFieldFound = null,
    };

    private static readonly string[] FixedRoundColumns = ["Round", "ConfigId", "Position"];

    public static void Write(Report r, string dir)
    {
        Directory.CreateDirectory(dir);
        WriteFile(Path.Combine(dir, RunFile), r.Run.Facts);
        WriteFile(Path.Combine(dir, ConfigsFile), r.Configs);
        WriteFile(Path.Combine(dir, RoundInfoFile), r.Rounds);
        WriteSamples(Path.Combine(dir, RoundsFile), r.Samples);
        WriteFile(Path.Combine(dir, TrialsFile), r.Trials);
        WriteFile(Path.Combine(dir, PercentilesFile), r.Percentiles);
        WriteFile(Path.Combine(dir, MicroFile), r.Micro);
        WriteFile(Path.Combine(dir, SummaryFile), SummaryRows(r));
    }

    /// <summary>Reads a folder written by <see cref="Write"/>. The files of
    /// <see cref="Required"/> must exist unless the folder holds micro-benchmarks only; a
    /// missing optional file reads as empty.</summary>
    public static Report Read(string dir)
    {
        if (!Directory.Exists(dir))
        {
            throw new DirectoryNotFoundException($"{dir}: no such folder");
        }
        bool microOnly = File.Exists(Path.Combine(dir, MicroFile)) && !File.Exists(Path.Combine(dir, RoundsFile)) && !File.Exists(Path.Combine(dir, ConfigsFile));
        var missing = Required.Where(f => !File.Exists(Path.Combine(dir, f))).ToList();
        if (missing.Count > 0 && !microOnly)
        {
            throw new FileNotFoundException($"{dir} is not a complete report folder: {string.Join(", ", missing)} missing");
        }
        var run = new RunInfo();
        run.Facts.AddRange(ReadFile<RunFact>(Path.Combine(dir, RunFile)));
        return new Report
        {
            Run = run,
            Configs = ReadFile<ConfigInfo>(Path.Combine(dir, ConfigsFile)),
            Rounds = ReadFile<RoundInfo>(Path.Combine(dir, RoundInfoFile)),
            Samples = ReadSamples(Path.Combine(dir, RoundsFile)),
            Trials = ReadFile<TrialRecord>(Path.Combine(dir, TrialsFile)),
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

    /// <summary>One row per (round, configuration); one column per metric, in first-seen order.</summary>
    public static void WriteSamples(string path, IReadOnlyList<RoundSample> samples)
    {
        var metrics = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (RoundSample s in samples)
        {
            foreach (string k in s.Values.Keys.Where(seen.Add))
            {
                metrics.Add(k);
            }
        }
        using var w = new StreamWriter(path);
        using var csv = new CsvWriter(w, Config);
        foreach (string h in FixedRoundColumns.Concat(metrics))
        {
            csv.WriteField(h);
        }
        csv.NextRecord();
        foreach (RoundSample s in samples)
        {
            csv.WriteField(s.Round);
            csv.WriteField(s.ConfigId);
            csv.WriteField(s.Position);
            foreach (string m in metrics)
            {
                csv.WriteField(s.Values.TryGetValue(m, out double v) ? Number(v) : "");
            }
            csv.NextRecord();
        }
    }

    public static List<RoundSample> ReadSamples(string path)
    {
        var list = new List<RoundSample>();
        if (!File.Exists(path))
        {
            return list;
        }
        using var r = new StreamReader(path);
        using var csv = new CsvReader(r, Config);
        if (!csv.Read())
        {
            return list;
        }
        csv.ReadHeader();
        string[] header = csv.HeaderRecord ?? [];
        if (!FixedRoundColumns.All(header.Contains))
        {
            throw new InvalidDataException($"{path}: the header lacks {string.Join(", ", FixedRoundColumns.Where(c => !header.Contains(c)))}");
        }
        while (csv.Read())
        {
            var s = new RoundSample
            {
                Round = csv.GetField<int>("Round"),
                ConfigId = csv.GetField("ConfigId") ?? "",
                Position = csv.GetField<int>("Position"),
            };
            foreach (string h in header.Where(h => !FixedRoundColumns.Contains(h)))
            {
                string? f = csv.GetField(h);
                if (!string.IsNullOrEmpty(f) && double.TryParse(f, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                {
                    s.Values[h] = v;
                }
            }
            list.Add(s);
        }
        return list;
    }

    private static string Number(double v) => double.IsNaN(v) ? "NaN" : v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A row of summary.csv: one configuration's metric over the used rounds.</summary>
    public sealed record SummaryRow(string ConfigId, string Metric, int Rounds, double Median, double Low, double High, double Coverage,
        string Reference, double Ratio, double RatioLow, double RatioHigh, string Verdict);

    public static IEnumerable<SummaryRow> SummaryRows(Report r)
    {
        var used = Summaries.UsedRounds(r);
        foreach (ConfigInfo c in r.Configs)
        {
            foreach (string m in Summaries.MetricsOf(r, c.Id))
            {
                MedianInterval v = Summaries.Of(r, c.Id, m, used);
                PairedRatio? p = Summaries.VsReference(r, c, m, used);
                yield return new SummaryRow(c.Id, m, v.N, v.Median, v.Low, v.High, v.Coverage, c.Reference,
                    p?.Ratio.Median ?? double.NaN, p?.Ratio.Low ?? double.NaN, p?.Ratio.High ?? double.NaN, p?.Verdict.ToString() ?? "");
            }
        }
    }
}

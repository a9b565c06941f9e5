using System.Globalization;
using CsvHelper;
using CsvHelper.Configuration;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Reports.Journal;

/// <summary>One line of a journal: a figure of a configuration in a round, or (no
/// configuration) a fact of the round such as its cache-line round trip.</summary>
public sealed record JournalEntry(int Round, string ConfigId, string Metric, double Value);

/// <summary>
/// The scripts' side of the rounds: they launch the programs and append what each visit
/// measured, one figure per line, to a journal (Round,ConfigId,Metric,Value); the same
/// statistics as the bench's (<see cref="Summaries"/>) then turn it into medians, intervals and
/// per-round ratios (<see cref="ToReport"/>), and a report folder if asked. Appending keeps a
/// killed script's finished rounds.
/// </summary>
public static class RoundJournal
{
    public const string C2cMetric = "c2c_ns";

    private static readonly CsvConfiguration Config = new(CultureInfo.InvariantCulture) { HasHeaderRecord = true };

    public static void Append(string path, IEnumerable<JournalEntry> entries)
    {
        bool header = !File.Exists(path) || new FileInfo(path).Length == 0;
        using var w = new StreamWriter(path, append: true);
        using var csv = new CsvWriter(w, Config);
        if (header)
        {
            csv.WriteHeader<JournalEntry>();
            csv.NextRecord();
        }
        foreach (JournalEntry e in entries)
        {
            csv.WriteRecord(e);
            csv.NextRecord();
        }
    }

    public static List<JournalEntry> Read(string path)
    {
        using var r = new StreamReader(path);
        using var csv = new CsvReader(r, Config);
        return csv.GetRecords<JournalEntry>().ToList();
    }

    /// <summary>A report of the journal's rounds. Configurations appear in first-seen order;
    /// <paramref name="references"/> maps a configuration to the one its ratios divide by.</summary>
    public static Report ToReport(IReadOnlyList<JournalEntry> entries, IReadOnlyDictionary<string, string> references, RunInfo? run = null)
    {
        var report = new Report { Run = run ?? new RunInfo() };
        foreach (string id in entries.Where(e => e.ConfigId.Length > 0).Select(e => e.ConfigId).Distinct())
        {
            report.Configs.Add(new ConfigInfo { Id = id, Label = id, Peer = "", Reference = references.GetValueOrDefault(id, "") });
        }
        foreach (int round in entries.Select(e => e.Round).Distinct().Order())
        {
            double c2c = entries.Where(e => e.Round == round && e.ConfigId.Length == 0 && e.Metric == C2cMetric).Select(e => e.Value).DefaultIfEmpty(double.NaN).Last();
            var order = entries.Where(e => e.Round == round && e.ConfigId.Length > 0).Select(e => e.ConfigId).Distinct().ToList();
            report.Rounds.Add(new RoundInfo { Round = round, C2cNs = c2c, C2cClass = C2cClass.Of(c2c), Order = string.Join(' ', order) });
            for (int i = 0; i < order.Count; i++)
            {
                var s = new RoundSample { Round = round, ConfigId = order[i], Position = i };
                foreach (JournalEntry e in entries.Where(e => e.Round == round && e.ConfigId == order[i]))
                {
                    s.Values[e.Metric] = e.Value;
                }
                report.Samples.Add(s);
            }
        }
        Summaries.FlagRounds(report.Rounds);
        if (Summaries.C2cRange(report) is { } range)
        {
            report.Run.Set(RunInfo.C2cRange, range);
        }
        return report;
    }
}

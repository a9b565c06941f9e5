using System.CommandLine;
using System.Globalization;
using PerfLab.Reports.Journal;
using PerfLab.Reports.Markdown;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Reports.Cli.Commands;

/// <summary>
/// The verbs the comparison scripts call, so that they share the bench's statistics instead of
/// computing their own: <c>order</c> (this round's visiting order), <c>record</c> (append a
/// visit's figures to a journal) and <c>summarize</c> (medians with intervals, per-round
/// ratios, flagged rounds; optionally a whole report folder).
/// </summary>
public static class JournalCommands
{
    public static IEnumerable<Command> Create() => [Order(), Record(), Summarize()];

    private static Command Order()
    {
        var round = new Option<int>("--round") { Description = "1-based round number", Required = true };
        var seed = new Option<int?>("--shuffle") { Description = "shuffle with this seed instead of rotating" };
        var items = new Argument<string[]>("ITEM") { Description = "what the round visits, in the reference order", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("order", "Print a round's visiting order: the items rotated by one place each round (or shuffled, seeded).") { round, seed, items };
        cmd.SetAction(p => Program.Guard("order", () =>
        {
            int r = p.GetValue(round);
            if (r < 1)
            {
                throw new BadInputException($"--round must be 1 or more, not {r}");
            }
            string[] all = p.GetValue(items)!;
            var order = p.GetValue(seed) is { } s ? RoundOrder.Shuffled(all, r, s) : RoundOrder.Rotated(all, r);
            Console.WriteLine(string.Join(' ', order));
            return Program.Ok;
        }));
        return cmd;
    }

    private static Command Record()
    {
        var journal = new Argument<string>("JOURNAL") { Description = "the journal file (CSV: Round,ConfigId,Metric,Value), created on first use" };
        var round = new Option<int>("--round") { Description = "1-based round number", Required = true };
        var config = new Option<string?>("--config") { Description = "the configuration measured (omit for a round fact such as --c2c)" };
        var c2c = new Option<double?>("--c2c") { Description = "the round's cache-line round trip in ns" };
        var json = new Option<string?>("--json") { Description = "a perflab-loadgen --json result file ('-': standard input)" };
        var set = new Option<string[]>("--set") { Description = "METRIC=VALUE, repeatable", AllowMultipleArgumentsPerToken = true };
        var print = new Option<string?>("--print") { Description = "print this recorded metric's value (for the script's own use, e.g. a rate)" };
        var cmd = new Command("record", "Append one visit's figures (a load generator's JSON, and/or --set values) or a round's c2c to a journal.") { journal, round, config, c2c, json, set, print };
        cmd.SetAction(p => Program.Guard("record", () =>
        {
            int r = p.GetValue(round);
            string id = p.GetValue(config) ?? "";
            var entries = new List<JournalEntry>();
            if (p.GetValue(c2c) is { } ns)
            {
                entries.Add(new JournalEntry(r, "", RoundJournal.C2cMetric, ns));
            }
            if (p.GetValue(json) is { } file)
            {
                RequireConfig(id, "--json");
                string text = file == "-" ? Console.In.ReadToEnd() : File.ReadAllText(file);
                entries.AddRange(LoadGenJson.Metrics(text).Select(kv => new JournalEntry(r, id, kv.Key, kv.Value)));
            }
            foreach (string kv in p.GetValue(set) ?? [])
            {
                RequireConfig(id, "--set");
                int eq = kv.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0 || !double.TryParse(kv[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                {
                    throw new BadInputException($"--set wants METRIC=NUMBER, not '{kv}'");
                }
                entries.Add(new JournalEntry(r, id, kv[..eq], v));
            }
            if (entries.Count == 0)
            {
                throw new BadInputException("nothing to record: give --c2c, --json or --set");
            }
            RoundJournal.Append(p.GetValue(journal)!, entries);
            if (p.GetValue(print) is { } metric)
            {
                JournalEntry e = entries.LastOrDefault(x => x.Metric == metric) ?? throw new BadInputException($"--print {metric}: not among the recorded figures ({string.Join(", ", entries.Select(x => x.Metric))})");
                Console.WriteLine(e.Value.ToString("R", CultureInfo.InvariantCulture));
            }
            return Program.Ok;
        }));
        return cmd;
    }

    private static void RequireConfig(string id, string option)
    {
        if (id.Length == 0)
        {
            throw new BadInputException($"{option} needs --config");
        }
    }

    private static Command Summarize()
    {
        var journal = new Argument<string>("JOURNAL") { Description = "a journal written by record" };
        var reference = new Option<string?>("--reference") { Description = "the configuration every other one is divided by, round by round" };
        var refs = new Option<string[]>("--ref") { Description = "CONFIG=REFERENCE for one configuration, repeatable", AllowMultipleArgumentsPerToken = true };
        var metrics = new Option<string[]>("--metric") { Description = "metrics to show (default: every one recorded)", AllowMultipleArgumentsPerToken = true };
        var headline = new Option<string?>("--headline") { Description = "the metric of the per-round table (default: the first recorded)" };
        var outDir = new Option<string?>("--out") { Description = "also write a report folder here (CSV, plots, report.md)" };
        var title = new Option<string?>("--title") { Description = "the report's title" };
        var cmd = new Command("summarize", "Medians with 95 % intervals, per-round ratios to the reference with theirs ('no significant difference' when it contains 1), and rounds of another c2c class flagged, as Markdown.")
            { journal, reference, refs, metrics, headline, outDir, title };
        cmd.SetAction(p => Program.Guard("summarize", () =>
        {
            string path = p.GetValue(journal)!;
            var entries = RoundJournal.Read(path);
            if (entries.Count == 0)
            {
                throw new BadInputException($"{path} holds no figures");
            }
            var ids = entries.Where(e => e.ConfigId.Length > 0).Select(e => e.ConfigId).Distinct().ToList();
            // Every CONFIG=REFERENCE pair is summarized: one configuration may be compared with
            // several (copy ÷ C ring and copy ÷ its old setting). --reference covers the
            // configurations that have no --ref of their own.
            var pairs = new List<(string Config, string Reference)>();
            foreach (string kv in p.GetValue(refs) ?? [])
            {
                string[] parts = kv.Split('=', 2);
                if (parts.Length != 2 || !ids.Contains(parts[0]) || !ids.Contains(parts[1]))
                {
                    throw new BadInputException($"--ref wants CONFIG=REFERENCE with both in the journal, not '{kv}'");
                }
                if (!pairs.Contains((parts[0], parts[1])))
                {
                    pairs.Add((parts[0], parts[1]));
                }
            }
            if (p.GetValue(reference) is { } all)
            {
                if (!ids.Contains(all))
                {
                    throw new BadInputException($"--reference {all}: no such configuration in {path} ({string.Join(", ", ids)})");
                }
                var own = pairs.Select(x => x.Config).ToHashSet();
                pairs.AddRange(ids.Where(i => i != all && !own.Contains(i)).Select(i => (i, all)));
            }
            // Rows in the journal's order of configurations, a configuration's references in the
            // order given (OrderBy is stable).
            pairs = pairs.OrderBy(x => ids.IndexOf(x.Config)).ToList();
            // The report's model holds one reference per configuration: its first.
            var map = new Dictionary<string, string>();
            foreach (var (config, refId) in pairs)
            {
                map.TryAdd(config, refId);
            }
            var run = new RunInfo();
            run.Set(RunInfo.Title, p.GetValue(title) ?? Path.GetFileNameWithoutExtension(path));
            run.Set(RunInfo.Date, File.GetLastWriteTime(path).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
            run.Set(RunInfo.Host, Environment.MachineName);
            Report report = RoundJournal.ToReport(entries, map, run);
            var shown = p.GetValue(metrics) is { Length: > 0 } m ? m.ToList() : Summaries.MetricsOf(report);
            Console.Write(JournalMarkdown.Build(report, shown, p.GetValue(headline) ?? shown[0], pairs));
            if (p.GetValue(outDir) is { } dir)
            {
                ReportFolder.Write(report, dir);
                Console.WriteLine($"\nreport folder: {Path.Combine(dir, MarkdownReport.FileName)}");
                if (pairs.Count > map.Count)
                {
                    Console.WriteLine("(its ratios divide each configuration by its first --ref only; the table above has every pair)");
                }
            }
            return Program.Ok;
        }));
        return cmd;
    }
}

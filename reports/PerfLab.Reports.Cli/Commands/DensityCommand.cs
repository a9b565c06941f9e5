using System.CommandLine;
using System.Globalization;
using PerfLab.Reports.Density;
using PerfLab.Reports.Journal;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Cli.Commands;

/// <summary>
/// density JOURNAL --out DIR: the density benchmark's table, CSV and plots (scripts/density)
/// from a journal whose configurations are STRATEGY@DEVICES; prints the Markdown table and,
/// per strategy, the largest device count that carried the load with p99 under the limit.
/// </summary>
public static class DensityCommand
{
    public static Command Create()
    {
        var journal = new Argument<string>("JOURNAL") { Description = "a journal written by record, configurations named STRATEGY@DEVICES" };
        var outDir = new Option<string>("--out") { Description = "write density.csv, density.md and the plots here", Required = true };
        var limit = new Option<double>("--p99-limit-us") { Description = "the latency limit a device count must stay under", DefaultValueFactory = _ => 100 };
        var loss = new Option<double>("--max-loss") { Description = "the loss ratio still counted as carrying the load", DefaultValueFactory = _ => 0.01 };
        var title = new Option<string?>("--title") { Description = "the table's title" };
        var cmd = new Command("density", "The density benchmark's table (medians with intervals per strategy and device count), density.csv, and plots of p99 and back-end CPU against device count.")
            { journal, outDir, limit, loss, title };
        cmd.SetAction(p => Program.Guard("density", () =>
        {
            string path = p.GetValue(journal)!;
            var entries = RoundJournal.Read(path);
            if (entries.Count == 0)
            {
                throw new BadInputException($"{path} holds no figures");
            }
            double maxLoss = p.GetValue(loss);
            if (p.GetValue(limit) is not > 0 || maxLoss is < 0 or >= 1)
            {
                throw new BadInputException("--p99-limit-us must be positive and --max-loss in [0, 1)");
            }
            var run = new RunInfo();
            run.Set(RunInfo.Title, p.GetValue(title) ?? "Density: devices per back-end core, per polling strategy");
            run.Set(RunInfo.Date, File.GetLastWriteTimeUtc(path).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
            run.Set(RunInfo.Host, Environment.MachineName);
            Report report = RoundJournal.ToReport(entries, new Dictionary<string, string>(), run);
            DensityTable table = DensityTable.From(report, p.GetValue(limit), maxLoss);
            string dir = p.GetValue(outDir)!;
            Console.Write(DensityFiles.Write(table, dir));
            Console.WriteLine($"\ndensity table: {Path.Combine(dir, DensityFiles.MarkdownFile)} (CSV: {DensityFiles.CsvFile})");
            return Program.Ok;
        }));
        return cmd;
    }
}

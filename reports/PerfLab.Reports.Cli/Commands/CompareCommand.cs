using System.CommandLine;
using PerfLab.Reports.Compare;
using PerfLab.Reports.Model;
using PerfLab.Reports.Store;

namespace PerfLab.Reports.Cli.Commands;

/// <summary>compare BASE CAND: a verdict per configuration and metric, exit 1 on a regression.</summary>
public static class CompareCommand
{
    public static Command Create()
    {
        var baseArg = new Argument<string>("BASE") { Description = "the base: a report folder or a stored run id" };
        var candArg = new Argument<string>("CAND") { Description = "the candidate: a report folder or a stored run id" };
        var threshold = StoreOptions.Threshold();
        var metric = StoreOptions.Metric();
        var force = new Option<bool>("--force") { Description = "compare runs of different hosts, CPU models or c2c classes anyway (the page says so)" };
        var json = new Option<bool>("--json") { Description = "print the comparison as JSON instead of Markdown" };
        var outDir = new Option<string?>("--out") { Description = "also write compare.md, compare.csv, compare.json and the ratio plot here" };
        var store = StoreOptions.Store();
        var cmd = new Command("compare",
            "Compare two runs: per configuration and metric, the ratio of the medians with its interval and a verdict (slower, faster, same, noise) "
            + "from a Mann-Whitney equivalence test at the threshold. Exit 0: nothing slower; 1: something slower; 2: bad input or runs that must not be compared.")
            { baseArg, candArg, threshold, metric, force, json, outDir, store };
        cmd.SetAction(p => Program.Guard("compare", () =>
        {
            double t = StoreOptions.ParseThreshold(p.GetValue(threshold)!);
            ResultsStore? opened = null;
            try
            {
                ResultsStore Store() => opened ??= ResultsStore.Open(StoreOptions.Location(p.GetValue(store)), create: false);
                var (b, bName) = RunSource.Load(p.GetValue(baseArg)!, Store);
                var (c, cName) = RunSource.Load(p.GetValue(candArg)!, Store);
                Comparison cmp = RunComparer.Compare(b, c, bName, cName, new CompareOptions(t, p.GetValue(metric), p.GetValue(force)));
                string? md = p.GetValue(outDir) is { } dir ? CompareFiles.Write(cmp, dir) : null;
                Console.Write(p.GetValue(json) ? CompareFiles.ToJson(cmp) + "\n" : CompareMarkdown.Build(cmp, md is null ? null : CompareFiles.ChartStem + ".png"));
                if (md != null)
                {
                    Console.Error.WriteLine($"perflab-report compare: wrote {md} (and compare.csv, compare.json, {CompareFiles.ChartStem}.png/.svg)");
                }
                return cmp.Regressed ? Program.Failed : Program.Ok;
            }
            finally
            {
                opened?.Dispose();
            }
        }));
        return cmd;
    }
}

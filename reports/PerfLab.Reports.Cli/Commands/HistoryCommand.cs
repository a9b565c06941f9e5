using System.CommandLine;
using PerfLab.Reports.Charts;
using PerfLab.Reports.Compare;
using PerfLab.Reports.Model;
using PerfLab.Reports.Store;

namespace PerfLab.Reports.Cli.Commands;

/// <summary>history: every stored run per configuration, with regressions between consecutive runs.</summary>
public static class HistoryCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "one configuration id (busy-64...); default: every one" };
        var host = new Option<string?>("--host") { Description = "runs of this host only" };
        var threshold = StoreOptions.Threshold();
        var metric = StoreOptions.Metric();
        var outDir = new Option<string?>("--out") { Description = "also write history.md and one plot per configuration here" };
        var store = StoreOptions.Store();
        var cmd = new Command("history",
            "The stored runs per configuration: a trend table (and plots with --out), each run judged against the previous one by compare's test. Exit 1 when the latest run of a configuration regressed.")
            { config, host, threshold, metric, outDir, store };
        cmd.SetAction(p => Program.Guard("history", () =>
        {
            double t = StoreOptions.ParseThreshold(p.GetValue(threshold)!);
            StoreLocation at = StoreOptions.Location(p.GetValue(store));
            using ResultsStore s = ResultsStore.Open(at, create: false);
            string? cid = p.GetValue(config);
            var runs = s.Runs(p.GetValue(host), cid);
            if (runs.Count == 0)
            {
                throw new BadInputException($"{at.Display} has no run{(cid != null ? $" with configuration {cid}" : "")}{(p.GetValue(host) is { } h ? $" from host {h}" : "")}: no baseline yet");
            }
            var loaded = runs.Select(r => (r, s.Load(r.Id))).ToList();
            var histories = RunHistory.Build(loaded, cid, p.GetValue(metric), t);
            Dictionary<string, string>? charts = null;
            if (p.GetValue(outDir) is { } dir)
            {
                charts = [];
                Report latest = loaded[^1].Item2;
                foreach (ConfigHistory h in histories)
                {
                    RenderedChart c = HistoryChart.Render(h, latest, dir);
                    charts[h.ConfigId] = c.PngFile;
                }
            }
            string md = HistoryMarkdown.Build(histories, t, at.Display, charts);
            Console.Write(md);
            if (p.GetValue(outDir) is { } d)
            {
                File.WriteAllText(Path.Combine(d, HistoryMarkdown.FileName), md);
                Console.Error.WriteLine($"perflab-report history: wrote {Path.Combine(d, HistoryMarkdown.FileName)} and {histories.Count} plots");
            }
            bool latestRegressed = histories.Any(h => h.Points.Count > 0 && h.Points[^1].Regressions.Any());
            return latestRegressed ? Program.Failed : Program.Ok;
        }));
        return cmd;
    }
}

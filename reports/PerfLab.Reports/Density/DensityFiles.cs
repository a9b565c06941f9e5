using System.Globalization;
using System.Text;
using CsvHelper;
using PerfLab.Reports.Charts;
using PerfLab.Reports.Markdown;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Reports.Density;

/// <summary>
/// What the density benchmark leaves behind: density.csv (one row per strategy and device
/// count: each figure's median and interval), density.md (the rounds with their c2c, the
/// table, the largest count per strategy), and the two plots against device count.
/// </summary>
public static class DensityFiles
{
    public const string CsvFile = "density.csv";
    public const string MarkdownFile = "density.md";

    public static string Write(DensityTable t, string dir)
    {
        Directory.CreateDirectory(dir);
        WriteCsv(t, Path.Combine(dir, CsvFile));
        RenderedChart p99 = DensityCharts.RenderP99(t, dir);
        RenderedChart cpu = DensityCharts.RenderCpu(t, dir);
        string md = Markdown(t, [p99, cpu]);
        File.WriteAllText(Path.Combine(dir, MarkdownFile), md);
        return md;
    }

    /// <summary>Columns: strategy, devices, rounds, holds, then per figure its median, low and high.</summary>
    public static void WriteCsv(DensityTable t, string path)
    {
        using var w = new StreamWriter(path);
        using var csv = new CsvWriter(w, CultureInfo.InvariantCulture);
        foreach (string h in new[] { "strategy", "devices", "rounds", "carried", "holds" })
        {
            csv.WriteField(h);
        }
        foreach (string m in DensityTable.Shown)
        {
            csv.WriteField(m);
            csv.WriteField(m + "_low");
            csv.WriteField(m + "_high");
        }
        csv.NextRecord();
        foreach (DensityCell c in t.Cells)
        {
            csv.WriteField(c.Strategy);
            csv.WriteField(c.Devices);
            csv.WriteField(c[Metrics.Mpps].N);
            csv.WriteField(t.Carried(c) ? 1 : 0);
            csv.WriteField(t.Holds(c) ? 1 : 0);
            foreach (string m in DensityTable.Shown)
            {
                MedianInterval v = c[m];
                csv.WriteField(Num(v.Median));
                csv.WriteField(Num(v.Low));
                csv.WriteField(Num(v.High));
            }
            csv.NextRecord();
        }
    }

    private static string Num(double v) => double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "";

    public static string Markdown(DensityTable t, IReadOnlyList<RenderedChart> charts)
    {
        Report r = t.Report;
        var used = t.UsedRounds;
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# {r.Run[RunInfo.Title] ?? "Density"}");
        md.AppendLine();
        md.AppendLine("Per back-end polling strategy and device count: one back-end worker core serving every device, a fixed "
            + "total offered load split evenly over the devices (open loop, lossy), delivered throughput, round-trip latency, "
            + "the back-end's CPU under that load and per frame delivered, and its idle cost (every device connected and silent).");
        md.AppendLine();
        md.AppendLine("| round | c2c ns | class | order |");
        md.AppendLine("|---:|---:|---|---|");
        foreach (RoundInfo x in r.Rounds)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {x.Round}{(x.Flagged ? " (flagged, left out)" : "")} | {Format.Num(x.C2cNs, 0)} | {x.C2cClass} | {x.Order} |");
        }
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Medians over {used.Count} rounds with their interval ({MedianInterval.Describe(used.Count)}). "
            + $"holds: loss <= {Format.Num(t.MaxLoss * 100)} % and p99 < {Format.Num(t.P99LimitUs)} µs.");
        md.AppendLine();
        md.AppendLine("| strategy | devices | offered Mpps | delivered Mpps | loss | p50 µs | p99 µs | back-end CPU % | ns/frame | idle CPU % | idle wake-ups/s | holds |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (DensityCell c in t.Cells)
        {
            string I(string m, int dec = 2) => Format.Interval(c[m], dec);
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {c.Strategy} | {c.Devices} | {Format.Num(c.Median(Metrics.OfferedMpps), 3)} | {I(Metrics.Mpps, 3)} | {I(Metrics.Loss, 3)} | {I(Metrics.P50Us, 1)} | {I(Metrics.P99Us, 1)} "
                + $"| {I(Metrics.BackendCpuPct, 1)} | {I(Metrics.BackendNsPerFrame, 0)} | {I(DensityTable.IdleCpuPct, 1)} | {I(DensityTable.IdleWakeupsPerS, 0)} | {(t.Holds(c) ? "yes" : "no")} |");
        }
        md.AppendLine();
        foreach (string v in t.Verdicts())
        {
            md.AppendLine("- " + v);
        }
        if (t.Cells.Any(c => c.Median("behind_ratio") > 0.001))
        {
            md.AppendLine();
            md.AppendLine("Some cells' load generator fell behind its own schedule (behind_ratio in density.csv): their loss and latency include the guest side's own lateness.");
        }
        foreach (RenderedChart ch in charts)
        {
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"![{ch.Title}]({ch.PngFile})");
            md.AppendLine();
            md.AppendLine(ch.Caption);
        }
        return md.ToString();
    }
}

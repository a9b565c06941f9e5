using System.Text;
using PerfLab.Reports.Charts;
using PerfLab.Reports.Csv;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Markdown;

/// <summary>
/// report.md: the machine, the cross-core cache-line round trip, the summary table with the
/// spread of each figure, every plot (PNG inline, SVG linked), the micro-benchmarks and a
/// short guide to reading it all. Paths are relative, so the folder can be moved or pasted.
/// </summary>
public static class MarkdownReport
{
    public const string FileName = "report.md";

    public static string Build(Report report, IReadOnlyList<RenderedChart> charts)
    {
        var md = new StringBuilder();
        RunInfo run = report.Run;
        md.AppendLine($"# {run[RunInfo.Title] ?? "PerfLab benchmark report"}");
        md.AppendLine();
        md.AppendLine(Line("Date", run[RunInfo.Date]) + Line("Profile", run[RunInfo.Profile]) + Line("Duration", run[RunInfo.Duration]) + Line("Command", run[RunInfo.Command], code: true));
        md.AppendLine();
        Machine(md, run);
        CacheLine(md, run);
        Summary(md, report);
        Plots(md, charts);
        Micro(md, report);
        HowToRead(md, report);
        Files(md);
        return md.ToString();
    }

    private static string Line(string key, string? value, bool code = false) =>
        value is null ? "" : $"**{key}:** {(code ? $"`{value}`" : value)}  \n";

    private static readonly HashSet<string> Preamble = [RunInfo.Title, RunInfo.Date, RunInfo.Profile, RunInfo.Duration, RunInfo.Command, RunInfo.CacheLineBefore, RunInfo.CacheLineAfter];

    private static void Machine(StringBuilder md, RunInfo run)
    {
        md.AppendLine("## Machine and run");
        md.AppendLine();
        md.AppendLine("| | |");
        md.AppendLine("|---|---|");
        foreach (RunFact f in run.Facts.Where(f => !Preamble.Contains(f.Key)))
        {
            md.AppendLine($"| {Format.Cell(f.Key)} | {Format.Cell(f.Value)} |");
        }
        md.AppendLine();
    }

    private static void CacheLine(StringBuilder md, RunInfo run)
    {
        double before = run.GetDouble(RunInfo.CacheLineBefore);
        double after = run.GetDouble(RunInfo.CacheLineAfter);
        md.AppendLine("## Cross-core cache-line round trip");
        md.AppendLine();
        if (!Format.Known(before) && !Format.Known(after))
        {
            md.AppendLine("Not measured in this run.");
            md.AppendLine();
            return;
        }
        md.AppendLine($"| before the run | after the run |");
        md.AppendLine("|---|---|");
        md.AppendLine($"| {Format.Num(before, 0)} ns | {Format.Num(after, 0)} ns |");
        md.AppendLine();
        md.AppendLine("Two threads pinned to CPU 0 and CPU 1 bounce one 64-byte line (median of several "
            + "rounds). Every frame crosses between the two CPUs several times (descriptors, indices, "
            + "the frame itself), so this figure bounds everything below. On a shared VM it depends on "
            + "where the host places the two vCPUs and moves by up to a factor of 4 between runs: "
            + "compare runs only when it is similar.");
        if (Format.Known(before) && Format.Known(after) && Math.Max(before, after) > 1.5 * Math.Min(before, after))
        {
            md.AppendLine();
            md.AppendLine($"**It changed during this run ({Format.Num(before, 0)} → {Format.Num(after, 0)} ns): "
                + "the host moved the vCPUs, and configurations measured before and after are not comparable.**");
        }
        md.AppendLine();
    }

    private static void Summary(StringBuilder md, Report report)
    {
        md.AppendLine("## Summary");
        md.AppendLine();
        if (report.Configs.Count == 0)
        {
            md.AppendLine("No end-to-end configuration in this run.");
            md.AppendLine();
            return;
        }
        md.AppendLine($"Baseline for the last column: {Views.BaselineName(report.Configs)}. "
            + "Figures in brackets: the lowest and highest measured iteration.");
        md.AppendLine();
        md.AppendLine("| Configuration (back-end / guest) | Frame | Queue | Burst | Load | Mpps | Gb/s | p50 µs | p99 µs | p99.9 µs | Back-end CPU % | Back-end CPU ns/frame | Load-gen CPU ns/frame | Kicks/frame | Calls/frame | Alloc B/frame | GCs (load gen · back-end) | vs baseline (Mpps, p99) |");
        md.AppendLine("|---|--:|--:|--:|--:|---|--:|---|---|---|---|---|---|--:|--:|--:|---|---|");
        foreach (ConfigResult r in Views.Ordered(report.Configs))
        {
            md.Append($"| {Format.Cell(r.Strategy)} | {r.FrameSize} B | {r.QueueSize} | {r.Burst} | {LoadText(r)} ");
            md.Append($"| {Format.WithSpread(r.Mpps, r.MppsLow, r.MppsHigh)} | {Format.Num(r.Gbps)} ");
            md.Append($"| {Format.MicrosWithSpread(r.P50Ns, r.P50LowNs, r.P50HighNs)} | {Format.MicrosWithSpread(r.P99Ns, r.P99LowNs, r.P99HighNs)} | {Format.MicrosWithSpread(r.P999Ns, r.P999LowNs, r.P999HighNs)} ");
            md.Append($"| {Format.WithSpread(r.BackendCpuPct, r.BackendCpuPctLow, r.BackendCpuPctHigh, 0)} | {Format.WithSpread(r.BackendCpuNsPerFrame, r.BackendCpuNsPerFrameLow, r.BackendCpuNsPerFrameHigh, 0)} | {Format.WithSpread(r.LoadgenCpuNsPerFrame, r.LoadgenCpuNsPerFrameLow, r.LoadgenCpuNsPerFrameHigh, 0)} ");
            md.Append($"| {Format.Num(r.KicksPerFrame, 3)} | {Format.Num(r.CallsPerFrame, 3)} | {Format.Num(r.AllocatedBytesPerFrame, 0)} | {Gcs(r)} | {VsBaseline(r, report.Configs)} |");
            md.AppendLine();
        }
        md.AppendLine();
        BusyMachineWarning(md, report.Configs);
        long errors = report.Configs.Sum(r => r.Errors);
        if (errors > 0)
        {
            md.AppendLine($"**Warning:** {errors} frames were lost, out of sequence or damaged in the measured iterations: "
                + string.Join(", ", report.Configs.Where(r => r.Errors > 0).Select(r => $"{r.Id} ({r.Errors})")) + ".");
            md.AppendLine();
        }
    }

    /// <summary>A busy-polling process spins at 100 % of its core on a quiet machine; if it got
    /// much less, other processes took the CPU and every figure of the run is depressed.</summary>
    public const double BusyCpuFloorPct = 90;

    private static void BusyMachineWarning(StringBuilder md, IReadOnlyList<ConfigResult> rows)
    {
        var shares = rows.Where(r => r.Peer == PeerNames.Dpdk || r.BackendPoll == "busy").Select(r => r.BackendCpuPct)
            .Concat(rows.Where(r => r.GuestPoll == "busy").Select(r => r.LoadgenCpuPct))
            .Where(Format.Known).ToList();
        if (shares.Count > 0 && shares.Min() < BusyCpuFloorPct)
        {
            md.AppendLine($"**Warning: the machine was busy.** Busy-polling processes got {Format.Num(shares.Min(), 0)}–{Format.Num(shares.Max(), 0)} % of a core "
                + "where they spin at 100 % on a quiet machine: other processes took the rest, and every figure of this run is depressed by it. "
                + "See the load averages above; measure again on a quiet machine before drawing conclusions.");
            md.AppendLine();
        }
    }

    private static string LoadText(ConfigResult r) => r.Unthrottled
        ? "max"
        : $"{r.LoadPct} % ({Format.Num(r.OfferedMpps)} Mpps){(Views.KeptUp(r) ? "" : ", fell behind")}";

    private static string Gcs(ConfigResult r)
    {
        string lg = Format.Known(r.Gen0Per1kFrames) ? Format.Num(r.Gen0Per1kFrames + r.Gen1Per1kFrames + r.Gen2Per1kFrames, 3) + "/1k" : Format.Unknown;
        string be = r.BackendGen0 >= 0 ? (r.BackendGen0 + r.BackendGen1 + r.BackendGen2).ToString(System.Globalization.CultureInfo.InvariantCulture) : Format.Unknown;
        return $"{lg} · {be}";
    }

    private static string VsBaseline(ConfigResult r, IReadOnlyList<ConfigResult> rows)
    {
        if (Views.IsBaseline(r, Views.HasDpdk(rows)))
        {
            return "baseline";
        }
        ConfigResult? b = Views.BaselineOf(r, rows);
        if (b is null)
        {
            return Format.Unknown;
        }
        return $"{Format.Ratio(r.Mpps / b.Mpps)}, {Format.Ratio(r.P99Ns / b.P99Ns)}";
    }

    private static void Plots(StringBuilder md, IReadOnlyList<RenderedChart> charts)
    {
        md.AppendLine("## Plots");
        md.AppendLine();
        foreach (RenderedChart c in charts)
        {
            md.AppendLine($"### {c.Title}");
            md.AppendLine();
            md.AppendLine($"![{c.Title}]({c.PngFile})");
            md.AppendLine();
            md.AppendLine($"{c.Caption} ([SVG]({c.SvgFile}))");
            md.AppendLine();
        }
    }

    private static void Micro(StringBuilder md, Report report)
    {
        if (report.Micro.Count == 0)
        {
            return;
        }
        md.AppendLine("## Micro-benchmarks");
        md.AppendLine();
        md.AppendLine("In-process, one core, BenchmarkDotNet with MemoryDiagnoser. Mean per operation, with the fastest and slowest iteration.");
        md.AppendLine();
        md.AppendLine("| Benchmark | Parameters | ns/op | Allocated B/op | Gen0 /1k ops | What it measures |");
        md.AppendLine("|---|---|---|--:|--:|---|");
        foreach (MicroResult m in report.Micro)
        {
            md.AppendLine($"| {Format.Cell(m.Benchmark)} | {Format.Cell(m.Parameters)} | {Format.WithSpread(m.MeanNs, m.MinNs, m.MaxNs)} | {Format.Num(m.AllocatedBytesPerOp, 0)} | {Format.Num(m.Gen0Per1kOps, 3)} | {Format.Cell(m.Description)} |");
        }
        md.AppendLine();
    }

    private static void HowToRead(StringBuilder md, Report report)
    {
        md.AppendLine("## How to read this");
        md.AppendLine();
        md.AppendLine("- **What runs.** The back-end is its own process, pinned to CPU 1, as in production. The load generator plays QEMU and the guest's virtio-net driver in the benchmark process, pinned to CPU 0: it sends timestamped frames on TX, the back-end returns each one on RX with its MACs swapped. There is no VM and no NIC, so these are the costs of the vhost-user data path itself, not of a network.");
        md.AppendLine("- **Throughput** is BenchmarkDotNet's mean time per frame (one invocation moves a fixed number of frames) turned into frames per second; Gb/s counts frame bytes only. The brackets are the slowest and fastest measured iteration, not a confidence interval. At a throttled load the throughput is simply the offered rate: read latency and CPU there instead.");
        md.AppendLine("- **Load.** A percentage of the maximum this run measured first (PerfLab busy / busy, same frame size, queue and burst). \"max\" is unthrottled: the generator keeps the ring full, so its latency is mostly queueing (ring depth ÷ rate, Little's law) and says little about the data path. Throttled loads are open loop: each frame's latency counts from its scheduled send time, so a stall shows up in the tail instead of being hidden (no coordinated omission). A row marked \"fell behind\" moved less than 95 % of its offered rate: its latency is that of a growing queue. The percentile plot uses the highest load every configuration kept up with.");
        md.AppendLine("- **Latency** is the round trip guest → back-end → guest, measured with the TSC, over the measured iterations only (warm-up excluded), merged in one HdrHistogram. p99.9 needs at least a few thousand samples to mean anything; the sample count is in configs.csv.");
        md.AppendLine("- **CPU.** % of one core over the measured iterations, and CPU time per frame, for the back-end process (its stats socket, or /proc for DPDK) and the load generator's traffic thread. Busy polling always costs 100 % of a core; that is the price of its latency.");
        md.AppendLine("- **Kicks and calls per frame** are the notifications the guest sent and received. Busy polling suppresses both; a sleeping strategy pays a system call and a wake-up for each.");
        md.AppendLine("- **Allocations.** MemoryDiagnoser counts the whole benchmark process over one extra iteration, rounded per frame: 0 shows the load generator's data path allocated nothing, not that nothing ever allocates. The back-end's GC count comes from its own counters.");
        md.AppendLine($"- **Baseline.** {Views.BaselineName(report.Configs)}. ×1.00 means equal; for Mpps higher is better, for p99 lower is better. Ratios at a throttled load compare latency at the same offered rate.");
        md.AppendLine("- **Noise.** This is a shared 2-vCPU VM: other tenants, the host's placement of the vCPUs (see the cache-line round trip) and CPU frequency all move the numbers. Differences smaller than the spread in brackets are not differences.");
        md.AppendLine();
    }

    private static void Files(StringBuilder md)
    {
        md.AppendLine("## Files");
        md.AppendLine();
        md.AppendLine($"`{ReportCsv.ConfigsFile}` (one row per configuration), `{ReportCsv.IterationsFile}` (one row per measured iteration), "
            + $"`{ReportCsv.PercentilesFile}` (each configuration's latency distribution), `{ReportCsv.MicroFile}`, `{ReportCsv.RunFile}` (machine and run). "
            + "`perflab-report render DIR` (reports/PerfLab.Reports.Cli) renders the plots and this file again from them.");
    }
}

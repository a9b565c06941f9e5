using System.Text;
using PerfLab.Reports.Charts;
using PerfLab.Reports.Csv;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Reports.Markdown;

/// <summary>
/// report.md: the answer first (each configuration's NDR and PDR, latency at its own load
/// points, CPU per frame, all as medians over rounds with their 95 % intervals), then the
/// per-round ratios to each configuration's reference, CPU at every load point, the rounds
/// and their cache-line round trip, the search's bounds, every plot, the micro-benchmarks,
/// the machine, and how to read it all. Paths are relative, so the folder can be moved.
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
        md.AppendLine(Line("Date", run[RunInfo.Date]) + Line("Profile", run[RunInfo.Profile]) + Line("Duration", run[RunInfo.Duration])
            + Line("Command", run[RunInfo.Command], code: true) + Line("Commit", run[RunInfo.GitCommit]) + Line("Host", run[RunInfo.Host]));
        md.AppendLine();
        var used = Summaries.UsedRounds(report);
        Summary(md, report, used);
        VsReference(md, report, used);
        CpuTable(md, report, used);
        DecisionsSection.Write(md, report, used);
        DecisionsSection.WriteGoals(md, report, used);
        Rounds(md, report);
        Search(md, report, used);
        Plots(md, charts);
        Micro(md, report);
        Machine(md, run);
        HowToRead(md, report);
        Files(md);
        return md.ToString();
    }

    private static string Line(string key, string? value, bool code = false) =>
        value is null ? "" : $"**{key}:** {(code ? $"`{value}`" : value)}  \n";

    private static string Mpps(Report r, ConfigInfo c, string metric, HashSet<int> used) => Format.Interval(Summaries.Of(r, c.Id, metric, used));

    private static void Summary(StringBuilder md, Report r, HashSet<int> used)
    {
        md.AppendLine("## Summary");
        md.AppendLine();
        if (r.Configs.Count == 0 || r.Samples.Count == 0)
        {
            md.AppendLine("No end-to-end configuration in this run.");
            md.AppendLine();
            return;
        }
        int n = used.Count;
        int moved = Summaries.MovedSamples(r).Count;
        string movedNote = moved == 0 ? "" : $" ({moved} visit{(moved == 1 ? "" : "s")} at another placement left out: see \"Rounds and the cross-core cache-line round trip\"; a configuration with one left out has that many rounds fewer)";
        md.AppendLine($"Medians over {n} round{(n == 1 ? "" : "s")}{FlaggedNote(r)}{movedNote}, with their confidence interval in brackets "
            + $"({MedianInterval.Describe(n)}; see \"How to read this\"). Latency is the round trip guest → back-end → guest.");
        md.AppendLine();
        int visits = r.Samples.Count(s => used.Contains(s.Round));
        string? shortOfKept = moved == 0 ? null
            : Summaries.ShortOfKept(r.Rounds, r.Samples, r.Configs.Select(c => (c.Id, c.Reference)), Summaries.KeptRoundsForAVerdict);
        if (visits > 0 && moved * 3 >= visits)
        {
            md.AppendLine($"**The host moved the vCPUs during {moved} of the {visits} visits of the rounds used**, so the figures below rest on "
                + "what is left (\"–\": nothing). " + (shortOfKept is null
                    ? $"Every configuration still kept at least {Summaries.KeptRoundsForAVerdict} rounds (with its reference in the same round), enough to judge its ratios."
                    : $"This run cannot rank every configuration ({shortOfKept}): run again when the host is quieter, or allow more rounds (`--max-rounds 24`)."));
            md.AppendLine();
        }
        if (Views.HasSearch(r))
        {
            md.AppendLine("| Configuration | NDR Mpps | PDR Mpps | PDR Gb/s | p99 µs, one frame in flight | p99 µs at 10 % PDR | p99 µs at 50 % PDR | p99 µs at 90 % PDR | Back-end CPU ns/frame at 50 % PDR | Load-gen CPU ns/frame at 50 % PDR |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
            foreach (ConfigInfo c in r.Configs)
            {
                md.Append($"| {Format.Cell(Views.LabelOf(c))} | {Mpps(r, c, Metrics.NdrMpps, used)} | {Mpps(r, c, Metrics.PdrMpps, used)} | {Mpps(r, c, Metrics.PdrGbps, used)} ");
                foreach (int load in Metrics.LoadPoints)
                {
                    md.Append($"| {Format.Interval(Summaries.Of(r, c.Id, Metrics.At(Metrics.P99Us, load), used))} ");
                }
                md.Append($"| {Format.Interval(Summaries.Of(r, c.Id, Metrics.At(Metrics.BackendNsPerFrame, 50), used), 0)} ");
                md.AppendLine($"| {Format.Interval(Summaries.Of(r, c.Id, Metrics.At(Metrics.LoadgenNsPerFrame, 50), used), 0)} |");
            }
        }
        else
        {
            GenericTable(md, r, used);
        }
        md.AppendLine();
        LossWarning(md, r, used);
        PreemptionNote(md, r, used);
    }

    /// <summary>Where a p99 reaches milliseconds, the threads' preemption beside it: on a host
    /// whose CPUs other threads share, that, not the strategy, is usually the tail.</summary>
    private static void PreemptionNote(StringBuilder md, Report r, HashSet<int> used)
    {
        var slow = new List<string>();
        foreach (ConfigInfo c in r.Configs)
        {
            foreach (int load in Metrics.LoadPoints)
            {
                double p99 = Summaries.Of(r, c.Id, Metrics.At(Metrics.P99Us, load), used).Median;
                double lg = Summaries.Of(r, c.Id, Metrics.At(Metrics.LoadgenWaitPct, load), used).Median;
                double be = Summaries.Of(r, c.Id, Metrics.At(Metrics.BackendWaitPct, load), used).Median;
                if (p99 >= 1000 && (lg > 0 || be > 0))
                {
                    slow.Add($"{Views.LabelOf(c)} at {Metrics.LoadText(load)} (p99 {Format.Num(p99, 0)} µs; preempted {Format.Num(lg, 2)} % load gen, {Format.Num(be, 2)} % back-end)");
                }
            }
        }
        if (slow.Count > 0)
        {
            md.AppendLine($"**p99 in milliseconds:** {string.Join(", ", slow)}. A polling thread held off its CPU for a few ms delays every frame of those ms, "
                + "and 1 % of a short trial is a few ms: where the preempted share is near or above 1 %, the p99 measures the host's interference, not the strategy "
                + "(see the load-point table and docs/method.md, \"Why p99 can be in milliseconds\").");
            md.AppendLine();
        }
    }

    /// <summary>Runs without a search (the scripts'): every metric, one column each.</summary>
    private static void GenericTable(StringBuilder md, Report r, HashSet<int> used)
    {
        var metrics = Summaries.MetricsOf(r);
        md.AppendLine("| Configuration | " + string.Join(" | ", metrics.Select(m => Format.Cell(Header(m)))) + " |");
        md.AppendLine("|---|" + string.Concat(metrics.Select(_ => "---|")));
        foreach (ConfigInfo c in r.Configs)
        {
            md.AppendLine($"| {Format.Cell(Views.LabelOf(c))} | " + string.Join(" | ", metrics.Select(m => Format.Interval(Summaries.Of(r, c.Id, m, used)))) + " |");
        }
    }

    private static string Header(string metric)
    {
        MetricDef d = Metrics.Def(metric);
        return d.Unit.Length > 0 ? $"{metric} ({d.Unit})" : metric;
    }

    private static string FlaggedNote(Report r)
    {
        var flagged = r.Rounds.Where(x => x.Flagged).Select(x => x.Round).ToList();
        return flagged.Count == 0 ? "" : $" (round{(flagged.Count == 1 ? "" : "s")} {string.Join(", ", flagged)} flagged for a different cache-line class and left out)";
    }

    /// <summary>A load point is carried when its loss stays within the PDR goal's (CSIT's 0.5 %).</summary>
    private const double CarriedLoss = 0.005;

    /// <summary>
    /// Load points some rounds did not carry: below the PDR, yet lossy, because the host's
    /// capacity fell during the round (the same pair moves 3× less at times on a shared VM).
    /// Those trials measure a queue (p50 in ms), and the summary's medians include them, so
    /// each is named with the p99 over the rounds that carried the point.
    /// </summary>
    private static void LossWarning(StringBuilder md, Report r, HashSet<int> used)
    {
        var lines = new List<string>();
        foreach (ConfigInfo c in r.Configs)
        {
            foreach (int load in Metrics.SameRatePoints)
            {
                Dictionary<int, double> loss = Summaries.ByRound(r, c.Id, Metrics.At(Metrics.Loss, load), used);
                var dropped = loss.Where(kv => kv.Value > CarriedLoss).OrderBy(kv => kv.Key).ToList();
                if (dropped.Count == 0)
                {
                    continue;
                }
                double[] carried = Summaries.ByRound(r, c.Id, Metrics.At(Metrics.P99Us, load), used)
                    .Where(kv => loss.TryGetValue(kv.Key, out double l) && l <= CarriedLoss).Select(kv => kv.Value).ToArray();
                string over = carried.Length == 0 ? "no round carried it"
                    : $"p99 over the {carried.Length} round{(carried.Length == 1 ? "" : "s")} that carried it: {Format.Interval(MedianInterval.Of(carried))} µs";
                lines.Add($"{Views.LabelOf(c)} at {load} % of PDR: not carried in round{(dropped.Count == 1 ? "" : "s")} {string.Join(", ", dropped.Select(kv => kv.Key))} "
                    + $"(loss {string.Join(", ", dropped.Select(kv => Format.Num(kv.Value * 100, 1) + " %"))}); {over}");
            }
        }
        if (lines.Count > 0)
        {
            md.AppendLine($"**Load points not carried** (loss above {CarriedLoss * 100:0.#} % below the PDR: the host's capacity fell during that round, "
                + "so the trial measured a queue, and the summary's median includes it):");
            md.AppendLine();
            foreach (string l in lines)
            {
                md.AppendLine("- " + l + ".");
            }
            md.AppendLine();
        }
    }

    private static void VsReference(StringBuilder md, Report r, HashSet<int> used)
    {
        var rows = r.Configs.Where(c => c.Reference.Length > 0 && r.Config(c.Reference) != null).ToList();
        if (rows.Count == 0)
        {
            return;
        }
        bool search = Views.HasSearch(r);
        md.AppendLine("## Against the reference, round by round");
        md.AppendLine();
        md.AppendLine("Each cell is the median of the per-round ratios (this configuration ÷ its reference, both measured in the same round, "
            + "so both saw the same host) with its interval; **bold** where the interval excludes 1. \"Same fraction\" compares each at the "
            + "same share of its own PDR; \"same offered rate\" measures the reference at this configuration's rate in the same round.");
        md.AppendLine();
        if (search)
        {
            string p99 = Metrics.At(Metrics.P99Us, 50);
            string cpu = Metrics.At(Metrics.BackendNsPerFrame, 50);
            md.AppendLine("| Configuration | Reference | NDR | PDR | p99 at 50 % of own PDR (same fraction) | p99 at the same offered rate (50 % of this PDR) | p99 at the same offered rate (90 %) | Back-end CPU/frame, same fraction (50 %) | Back-end CPU/frame, same offered rate (50 %) |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|");
            foreach (ConfigInfo c in rows)
            {
                md.AppendLine($"| {Format.Cell(Views.LabelOf(c))} | {Format.Cell(Views.LabelOf(r.Config(c.Reference)!))} "
                    + $"| {Format.RatioCell(Summaries.VsReference(r, c, Metrics.NdrMpps, used))} | {Format.RatioCell(Summaries.VsReference(r, c, Metrics.PdrMpps, used))} "
                    + $"| {Format.RatioCell(Summaries.VsReference(r, c, p99, used))} | {Format.RatioCell(Summaries.VsReferenceSameRate(r, c, p99, used))} "
                    + $"| {Format.RatioCell(Summaries.VsReferenceSameRate(r, c, Metrics.At(Metrics.P99Us, 90), used))} "
                    + $"| {Format.RatioCell(Summaries.VsReference(r, c, cpu, used))} | {Format.RatioCell(Summaries.VsReferenceSameRate(r, c, cpu, used))} |");
            }
        }
        else
        {
            var metrics = Summaries.MetricsOf(r).Where(m => Metrics.Def(m).Better != Better.Neither).ToList();
            md.AppendLine("| Configuration | Reference | " + string.Join(" | ", metrics.Select(Format.Cell)) + " |");
            md.AppendLine("|---|---|" + string.Concat(metrics.Select(_ => "---|")));
            foreach (ConfigInfo c in rows)
            {
                md.AppendLine($"| {Format.Cell(Views.LabelOf(c))} | {Format.Cell(c.Reference)} | "
                    + string.Join(" | ", metrics.Select(m => Format.RatioCell(Summaries.VsReference(r, c, m, used)))) + " |");
            }
        }
        md.AppendLine();
    }

    private static void CpuTable(StringBuilder md, Report r, HashSet<int> used)
    {
        if (!Views.HasSearch(r))
        {
            return;
        }
        md.AppendLine("## Every load point: CPU, notifications, loss");
        md.AppendLine();
        md.AppendLine("\"Mpps per core\" is 1000 ÷ CPU ns per frame. Back-end: the back-end process; load gen: the guest's traffic thread. "
            + "Preempted: the share of the window the load generator's traffic thread and the back-end's polling threads were runnable but held off "
            + "their CPU by another thread or the kernel (Linux schedstat): host interference, which the strategy did not choose and which every frame of those moments waits for.");
        md.AppendLine();
        md.AppendLine("| Configuration | Load | Offered Mpps | p50 µs | p99 µs | p99.9 µs | Back-end CPU % | Back-end ns/frame | Load-gen CPU % | Load-gen ns/frame | Kicks/frame | Calls/frame | Loss | Preempted %, load gen | Preempted %, back-end |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (ConfigInfo c in r.Configs)
        {
            foreach (int load in Metrics.LoadPoints)
            {
                string I(string q, int dec = 2) => Format.Interval(Summaries.Of(r, c.Id, Metrics.At(q, load), used), dec);
                string offered = load == 0 ? I(Metrics.RxMpps, 3) : I(Metrics.OfferedMpps, 3);
                if (offered == Format.Unknown && I(Metrics.P99Us) == Format.Unknown)
                {
                    continue;
                }
                md.AppendLine($"| {Format.Cell(Views.LabelOf(c))} | {Metrics.LoadText(load)} | {offered} | {I(Metrics.P50Us)} | {I(Metrics.P99Us)} | {I(Metrics.P999Us)} "
                    + $"| {I(Metrics.BackendCpuPct, 0)} | {I(Metrics.BackendNsPerFrame, 0)} | {I(Metrics.LoadgenCpuPct, 0)} | {I(Metrics.LoadgenNsPerFrame, 0)} "
                    + $"| {I(Metrics.KicksPerFrame, 3)} | {I(Metrics.CallsPerFrame, 3)} | {I(Metrics.Loss, 4)} | {I(Metrics.LoadgenWaitPct)} | {I(Metrics.BackendWaitPct)} |");
            }
        }
        md.AppendLine();
    }

    private static void Rounds(StringBuilder md, Report r)
    {
        md.AppendLine("## Rounds and the cross-core cache-line round trip");
        md.AppendLine();
        if (r.Rounds.Count == 0)
        {
            md.AppendLine("No round information in this run.");
            md.AppendLine();
            return;
        }
        md.AppendLine("Each round visits every configuration once, in an order that rotates from round to round; the cache-line round trip "
            + "CPU 0 ↔ CPU 1 (c2c) is measured at the start of each round. On a VM it depends on where the host places the two vCPUs "
            + $"(near ≤ {C2cClass.NearMaxNs:0} ns, far ≥ {C2cClass.FarMinNs:0} ns); every cross-core figure moves with it. A round whose class differs from "
            + "the run's usual one is flagged and left out of the medians.");
        md.AppendLine();
        md.AppendLine("| Round | Started (UTC) | c2c ns | Class | Order | |");
        md.AppendLine("|--:|---|--:|---|---|---|");
        foreach (RoundInfo x in r.Rounds)
        {
            md.AppendLine($"| {x.Round} | {x.StartedUtc:HH:mm:ss} | {Format.Num(x.C2cNs, 0)} | {x.C2cClass} | {Format.Cell(x.Order)} | {(x.Flagged ? "**flagged: left out**" : "")} |");
        }
        md.AppendLine();
        if (r.Run[RunInfo.RoundsAdded] is { } added)
        {
            md.AppendLine($"**Rounds added:** {Format.Cell(added)}.");
            md.AppendLine();
        }
        MovedVisits(md, r);
    }

    /// <summary>The visits a probe next to them found at another placement than the run's,
    /// each left out of the medians and ratios (its round's other visits stay in).</summary>
    private static void MovedVisits(StringBuilder md, Report r)
    {
        if (!r.Samples.Any(s => double.IsFinite(s.Get(Metrics.VisitC2cMinNs))))
        {
            return;
        }
        List<RoundSample> moved = Summaries.MovedSamples(r);
        md.Append("A short c2c probe is also taken between visits (nothing of the bench runs then): the host moves the vCPUs within a round too, "
            + "and a pair of pollers runs about 3× slower while they are far apart (docs/method.md, \"The placement inside a point\"). ");
        if (moved.Count == 0)
        {
            md.AppendLine("In the rounds used, every probe was of the run's class.");
            md.AppendLine();
            return;
        }
        md.AppendLine($"These {moved.Count} visits saw another class than the run's ({Summaries.C2cClassOf(r)}) and are left out of the medians and ratios:");
        md.AppendLine();
        foreach (var g in moved.GroupBy(s => s.ConfigId))
        {
            string label = r.Config(g.Key) is { } c ? Views.LabelOf(c) : g.Key;
            md.AppendLine($"- {label}: " + string.Join(", ", g.Select(s => $"round {s.Round} ({Format.Num(s.Get(Metrics.VisitC2cMinNs), 0)}–{Format.Num(s.Get(Metrics.VisitC2cMaxNs), 0)} ns)")));
        }
        md.AppendLine();
    }

    private static void Search(StringBuilder md, Report r, HashSet<int> used)
    {
        if (!Views.HasSearch(r))
        {
            return;
        }
        md.AppendLine("## The search (MLRsearch, RFC 9971)");
        md.AppendLine();
        if (r.Run[RunInfo.Method] is { } method)
        {
            md.AppendLine(method);
            md.AppendLine();
        }
        md.AppendLine("Conditional throughput (the NDR/PDR above) and the relevant lower and upper bounds, medians over rounds. "
            + "\"Irregular\": a round whose search ended without both bounds (the maximum load was a lower bound, or the minimum an upper bound).");
        md.AppendLine();
        md.AppendLine("| Configuration | Max load Mpps | NDR lower bound | NDR upper bound | NDR trials | PDR lower bound | PDR upper bound | PDR trials | Irregular rounds | Search s |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (ConfigInfo c in r.Configs)
        {
            string I(string m, int dec = 2) => Format.Interval(Summaries.Of(r, c.Id, m, used), dec);
            int irregular = r.Samples.Count(s => s.ConfigId == c.Id && used.Contains(s.Round)
                && (s.Get(Metrics.NdrRegular) == 0 || s.Get(Metrics.PdrRegular) == 0));
            md.AppendLine($"| {Format.Cell(Views.LabelOf(c))} | {I(Metrics.MaxLoadMpps)} | {I(Metrics.NdrLowerMpps)} | {I(Metrics.NdrUpperMpps)} | {I(Metrics.NdrTrials, 0)} "
                + $"| {I(Metrics.PdrLowerMpps)} | {I(Metrics.PdrUpperMpps)} | {I(Metrics.PdrTrials, 0)} | {irregular} | {I(Metrics.SearchSeconds, 1)} |");
        }
        md.AppendLine();
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

    private static readonly HashSet<string> Preamble = [RunInfo.Title, RunInfo.Date, RunInfo.Profile, RunInfo.Duration, RunInfo.Command, RunInfo.GitCommit, RunInfo.Host, RunInfo.Method];

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

    /// <summary>The "shared VM" sentence, only when the facts say so: a hypervisor, and
    /// either steal time during the run or other load on the machine before it.</summary>
    public static string? NoiseSentence(RunInfo run)
    {
        string? hv = run[RunInfo.Hypervisor];
        if (hv is null)
        {
            return null;
        }
        string cores = run[RunInfo.Cores]?.Split(' ')[0] ?? "?";
        double steal = run.GetDouble(RunInfo.StealPct);
        double load = double.TryParse(run[RunInfo.LoadBefore]?.Split(' ')[0], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double l) ? l : double.NaN;
        bool shared = (Format.Known(steal) && steal >= 0.5) || (Format.Known(load) && load >= 0.5);
        return shared
            ? $"This is a shared {cores}-vCPU VM ({hv}): the host took {Format.Num(steal, 1)} % of the CPU as steal time during the run"
                + $" and the load average was {run[RunInfo.LoadBefore] ?? "?"} before it; other tenants and the host's placement of the vCPUs move the numbers."
            : $"This is a {cores}-vCPU VM ({hv}); the host's placement of the vCPUs (the cache-line round trip) moves every cross-core figure.";
    }

    private static void HowToRead(StringBuilder md, Report report)
    {
        md.AppendLine("## How to read this");
        md.AppendLine();
        md.AppendLine("- **What runs.** The back-end is its own process, pinned to CPU 1, as in production. The load generator plays QEMU and the guest's virtio-net driver in the bench process, pinned to CPU 0: it offers timestamped frames on TX at a fixed rate (open loop), the back-end returns each one on RX with its MACs swapped, or drops it when the guest has no RX buffer free. There is no VM and no NIC: these are the costs of the vhost-user data path itself.");
        md.AppendLine("- **NDR and PDR** are each configuration's own capacity, searched every round by MLRsearch (RFC 9971, as FD.io CSIT runs it): the highest offered rate with no loss (NDR) and with at most the PDR goal's loss ratio (PDR), within the goal width. The figure is the conditional throughput at the relevant lower bound; the bounds are in \"The search\". Busy polling and sleeping strategies are each measured against their own capacity, not against one probe.");
        md.AppendLine("- **Load points.** Latency and CPU are measured at one frame in flight (the latency floor: a ping-pong) and at 10, 50 and 90 % of the configuration's own PDR of that round, so a sleeping strategy is never shown behind a queue it cannot drain. Latency counts from each frame's scheduled send time (no coordinated omission).");
        md.AppendLine($"- **Intervals.** Each figure is the median over the rounds. The interval is distribution-free: two order statistics of the rounds chosen with the binomial distribution (the sign test's interval), so it assumes only independent rounds. Its real coverage depends on the number of rounds: {MedianInterval.Describe(Summaries.UsedRounds(report).Count)}. Five rounds cannot reach 95 % (their min–max covers 93.8 %); six can (96.9 %).");
        md.AppendLine("- **Ratios** are computed per round (both sides of a round saw the same host) and summarised the same way. An interval that contains 1 is \"no significant difference\": the two are not distinguishable in this run, whatever their medians say.");
        md.AppendLine("- **Rounds.** Every round visits every configuration once, in a rotated order, and measures the cache-line round trip first. A round in a different placement class is flagged and left out.");
        md.AppendLine("- **CPU.** % of one core and CPU time per frame, for the back-end process (its stats socket, or /proc for DPDK) and the load generator's traffic thread. Busy polling always costs a core; that is the price of its latency. 1000 ÷ ns per frame is Mpps per core.");
        if (NoiseSentence(report.Run) is { } noise)
        {
            md.AppendLine($"- **Noise.** {noise} Differences inside the intervals are not differences.");
        }
        md.AppendLine();
    }

    private static void Files(StringBuilder md)
    {
        md.AppendLine("## Files");
        md.AppendLine();
        md.AppendLine($"`{ReportCsv.RoundsFile}` (one row per round and configuration: every figure), `{ReportCsv.SummaryFile}` (medians, intervals, ratios), "
            + $"`{ReportCsv.ConfigsFile}`, `{ReportCsv.RoundInfoFile}` (c2c and order per round), `{ReportCsv.TrialsFile}` (every trial of every search), "
            + $"`{ReportCsv.PercentilesFile}`, `{ReportCsv.MicroFile}`, `{ReportCsv.RunFile}` (machine and run). "
            + "`perflab-report render DIR` renders the plots and this file again from them; `perflab-report compare BASE CAND` compares two runs.");
    }
}

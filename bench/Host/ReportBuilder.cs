using System.ComponentModel;
using System.Reflection;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using HdrHistogram;
using PerfLab.Bench.EndToEnd;
using PerfLab.LoadGen.Guest;
using PerfLab.Reports.Model;

namespace PerfLab.Bench.Host;

/// <summary>
/// Turns BenchmarkDotNet's summaries and the children's side data into the report model.
/// Throughput statistics are BenchmarkDotNet's; latency comes from the HdrHistograms of the
/// measured iterations only. Which iterations are measured: each IterationSetup in a
/// benchmark process leaves one record, in order, and BenchmarkDotNet calls IterationSetup
/// once before every workload iteration it runs (jitting, warm-up, actual) and once more for
/// the extra iteration that reads GC statistics. So the k-th workload measurement of a launch
/// is the k-th record of that launch, and the measured ones are those in the Actual stage.
/// </summary>
public static class ReportBuilder
{
    private static readonly ConditionalWeakTable<Summary, Built> Cache = new();

    /// <summary>What one summary yields.</summary>
    public sealed class Built
    {
        public Dictionary<BenchmarkCase, ConfigResult> Configs { get; } = [];
        public List<IterationResult> Iterations { get; } = [];
        public List<PercentilePoint> Percentiles { get; } = [];
        public List<MicroResult> Micro { get; } = [];
        public List<string> Warnings { get; } = [];
    }

    public static Built Of(Summary summary) => Cache.GetValue(summary, s => Build(s, SideData.RunDir));

    public static ConfigResult? ConfigOf(Summary summary, BenchmarkCase bc) => Of(summary).Configs.GetValueOrDefault(bc);

    private static Built Build(Summary summary, string? rawDir)
    {
        var built = new Built();
        foreach (BenchmarkReport report in summary.Reports)
        {
            if (Case.Of(report.BenchmarkCase) is { } c)
            {
                AddEndToEnd(built, report, c, rawDir);
            }
            else if (report.ResultStatistics is { } st)
            {
                built.Micro.Add(Micro(report, st));
            }
        }
        return built;
    }

    public static string IdOf(Case c) =>
        $"{c.Peer.ToString().ToLowerInvariant()} {Poll(c.BackendPoll)}/{Poll(c.GuestPoll)} {c.FrameSize}B q{c.QueueSize} b{c.Burst} load{c.Load}"
        + (c.DefaultPath ? "" : $" {c.Ring.ToString().ToLowerInvariant()} p{c.Pairs}{(c.Mergeable ? " mrg" : "")}");

    private static string Poll(PerfLab.Vhost.Polling.PollMode m) => m.ToString().ToLowerInvariant();

    private static void AddEndToEnd(Built built, BenchmarkReport report, Case c, string? rawDir)
    {
        BenchmarkCase bc = report.BenchmarkCase;
        var r = new ConfigResult
        {
            Id = IdOf(c),
            Peer = c.Peer == Peer.Dpdk ? PeerNames.Dpdk : PeerNames.PerfLab,
            BackendPoll = Poll(c.BackendPoll),
            GuestPoll = Poll(c.GuestPoll),
            FrameSize = c.FrameSize,
            QueueSize = c.QueueSize,
            Burst = c.Burst,
            LoadPct = c.Load,
            Ring = c.Ring.ToString().ToLowerInvariant(),
            Pairs = c.Pairs,
            Mergeable = c.Mergeable,
        };
        if (report.ResultStatistics is { } st)
        {
            r.MeanNsPerFrame = st.Mean;
            r.StdDevNsPerFrame = st.StandardDeviation;
            r.MinNsPerFrame = st.Min;
            r.MaxNsPerFrame = st.Max;
            r.Iterations = st.N;
        }
        r.WithDerivedThroughput();
        GcStats gc = report.GcStats;
        if (gc.TotalOperations > 0)
        {
            r.AllocatedBytesPerFrame = gc.GetBytesAllocatedPerOperation(bc) ?? double.NaN;
            r.Gen0Per1kFrames = gc.Gen0Collections * 1000.0 / gc.TotalOperations;
            r.Gen1Per1kFrames = gc.Gen1Collections * 1000.0 / gc.TotalOperations;
            r.Gen2Per1kFrames = gc.Gen2Collections * 1000.0 / gc.TotalOperations;
        }
        var launches = rawDir is null ? [] : SideData.Read(rawDir, SideData.Key(bc.Parameters.Items.Select(p => (p.Name, (object?)p.Value))));
        r.OfferedMpps = launches.Select(l => l.File.OfferedPps).FirstOrDefault() / 1e6;
        var measured = MeasuredIterations(report, launches, built.Warnings, r.Id);
        if (measured.Count > 0)
        {
            Summarize(r, measured, built);
        }
        built.Configs[bc] = r;
    }

    /// <summary>The measured iterations' (BenchmarkDotNet measurement, side record, histogram).</summary>
    private static List<(Measurement M, IterationRecord Rec, HistogramBase H)> MeasuredIterations(
        BenchmarkReport report, List<(SideDataFile File, Dictionary<int, HistogramBase> Histograms)> launches, List<string> warnings, string id)
    {
        var result = new List<(Measurement, IterationRecord, HistogramBase)>();
        var byLaunch = report.AllMeasurements
            .Where(m => m.IterationMode == IterationMode.Workload && m.IterationStage != IterationStage.Result)
            .GroupBy(m => m.LaunchIndex).OrderBy(g => g.Key).ToList();
        if (byLaunch.Count == 0)
        {
            return result;
        }
        if (byLaunch.Count != launches.Count)
        {
            warnings.Add($"{id}: {byLaunch.Count} launches measured, {launches.Count} side-data files; latency and CPU left out");
            return result;
        }
        for (int i = 0; i < byLaunch.Count; i++)
        {
            var ms = byLaunch[i].ToList();
            var recs = launches[i].File.Iterations.OrderBy(x => x.Index).ToList();
            // One record per workload iteration, plus one for the GC-statistics iteration.
            if (recs.Count != ms.Count && recs.Count != ms.Count + 1)
            {
                warnings.Add($"{id}: launch {i + 1} has {ms.Count} workload iterations but {recs.Count} iteration records; latency and CPU left out");
                continue;
            }
            for (int k = 0; k < ms.Count; k++)
            {
                if (ms[k].IterationStage == IterationStage.Actual && launches[i].Histograms.TryGetValue(recs[k].Index, out HistogramBase? h))
                {
                    result.Add((ms[k], recs[k], h));
                }
            }
        }
        return result;
    }

    private static void Summarize(ConfigResult r, List<(Measurement M, IterationRecord Rec, HistogramBase H)> its, Built built)
    {
        var merged = new LongHistogram(TrafficEngine.MaxLatencyNs, 3);
        foreach (var it in its)
        {
            merged.Add(it.H);
        }
        r.LatencySamples = merged.TotalCount;
        if (merged.TotalCount > 0)
        {
            r.P50Ns = merged.GetValueAtPercentile(50);
            r.P90Ns = merged.GetValueAtPercentile(90);
            r.P99Ns = merged.GetValueAtPercentile(99);
            r.P999Ns = merged.GetValueAtPercentile(99.9);
            r.MaxLatencyNs = merged.GetMaxValue();
            foreach (var v in merged.Percentiles(5))
            {
                built.Percentiles.Add(new PercentilePoint { ConfigId = r.Id, Percentile = v.PercentileLevelIteratedTo, LatencyNs = v.ValueIteratedTo, CountAtOrBelow = v.TotalCountToThisValue });
            }
        }
        var withLatency = its.Where(i => i.H.TotalCount > 0).ToList();
        (r.P50LowNs, r.P50HighNs) = Range(withLatency, i => i.H.GetValueAtPercentile(50));
        (r.P99LowNs, r.P99HighNs) = Range(withLatency, i => i.H.GetValueAtPercentile(99));
        (r.P999LowNs, r.P999HighNs) = Range(withLatency, i => i.H.GetValueAtPercentile(99.9));

        var results = its.Select(i => i.Rec.Result).ToList();
        double frames = results.Sum(Frames);
        double seconds = results.Sum(x => x.DurationS);
        var recs = its.Select(i => i.Rec).ToList();
        if (recs.All(x => !double.IsNaN(x.BackendCpuPct)))
        {
            // The back-end's share by its own clock, applied to the load generator's window.
            r.BackendCpuPct = recs.Sum(x => x.BackendCpuPct * x.Result.DurationS) / seconds;
            r.BackendCpuNsPerFrame = recs.Sum(x => x.BackendCpuPct / 100 * x.Result.DurationS * 1e9) / frames;
            (r.BackendCpuPctLow, r.BackendCpuPctHigh) = Range(recs, x => x.BackendCpuPct);
            (r.BackendCpuNsPerFrameLow, r.BackendCpuNsPerFrameHigh) = Range(recs, BackendNsPerFrame);
        }
        r.LoadgenCpuPct = results.Sum(x => (double)x.LoadgenCpuNs) / (seconds * 1e9) * 100;
        r.LoadgenCpuNsPerFrame = results.Sum(x => (double)x.LoadgenThreadCpuNs) / frames;
        (r.LoadgenCpuPctLow, r.LoadgenCpuPctHigh) = Range(results, x => x.LoadgenCpuPct);
        (r.LoadgenCpuNsPerFrameLow, r.LoadgenCpuNsPerFrameHigh) = Range(results, x => x.LoadgenCpuNsPerPacket);
        r.KicksPerFrame = results.Sum(x => (double)x.Kicks) / frames;
        r.CallsPerFrame = results.Sum(x => (double)x.CallsReceived) / frames;
        if (results.All(x => x.BackendGen0 >= 0))
        {
            r.BackendGen0 = results.Sum(x => (long)x.BackendGen0);
            r.BackendGen1 = results.Sum(x => (long)x.BackendGen1);
            r.BackendGen2 = results.Sum(x => (long)x.BackendGen2);
            r.BackendDataPlaneAllocatedBytes = results.Sum(x => x.BackendDataPlaneAllocatedBytes);
        }
        r.Errors = its.Sum(i => i.Rec.Errors + i.Rec.Missing);

        int n = 1;
        foreach (var it in its)
        {
            var x = it.Rec.Result;
            double f = Frames(x);
            built.Iterations.Add(new IterationResult
            {
                ConfigId = r.Id,
                Iteration = n++,
                NsPerFrame = it.M.Nanoseconds / it.M.Operations,
                Frames = (long)f,
                P50Ns = it.H.TotalCount > 0 ? it.H.GetValueAtPercentile(50) : double.NaN,
                P99Ns = it.H.TotalCount > 0 ? it.H.GetValueAtPercentile(99) : double.NaN,
                P999Ns = it.H.TotalCount > 0 ? it.H.GetValueAtPercentile(99.9) : double.NaN,
                MaxLatencyNs = it.H.TotalCount > 0 ? it.H.GetMaxValue() : double.NaN,
                BackendCpuPct = it.Rec.BackendCpuPct,
                BackendCpuNsPerFrame = BackendNsPerFrame(it.Rec),
                LoadgenCpuPct = x.LoadgenCpuPct,
                LoadgenCpuNsPerFrame = x.LoadgenCpuNsPerPacket,
                KicksPerFrame = f > 0 ? x.Kicks / f : double.NaN,
                CallsPerFrame = f > 0 ? x.CallsReceived / f : double.NaN,
                BackendGen0 = x.BackendGen0,
                BackendGen1 = x.BackendGen1,
                BackendGen2 = x.BackendGen2,
                Errors = it.Rec.Errors + it.Rec.Missing,
            });
        }
    }

    private static double BackendNsPerFrame(IterationRecord x) => x.BackendCpuPct / 100 * x.Result.DurationS * 1e9 / Frames(x.Result);

    /// <summary>Frames received in an iteration's window.</summary>
    private static double Frames(PerfLab.LoadGen.LoadGenResult x) => x.Mpps * 1e6 * x.DurationS;

    private static (double Low, double High) Range<T>(IReadOnlyCollection<T> items, Func<T, double> f) =>
        items.Count == 0 ? (double.NaN, double.NaN) : (items.Min(f), items.Max(f));

    private static MicroResult Micro(BenchmarkReport report, BenchmarkDotNet.Mathematics.Statistics st)
    {
        BenchmarkCase bc = report.BenchmarkCase;
        MethodInfo m = bc.Descriptor.WorkloadMethod;
        GcStats gc = report.GcStats;
        return new MicroResult
        {
            Benchmark = $"{bc.Descriptor.Type.Name}.{m.Name}",
            Parameters = string.Join(", ", bc.Parameters.Items.Select(p => $"{p.Name}={p.Value}")),
            MeanNs = st.Mean,
            StdDevNs = st.StandardDeviation,
            MinNs = st.Min,
            MaxNs = st.Max,
            AllocatedBytesPerOp = gc.TotalOperations > 0 ? gc.GetBytesAllocatedPerOperation(bc) ?? double.NaN : double.NaN,
            Gen0Per1kOps = gc.TotalOperations > 0 ? gc.Gen0Collections * 1000.0 / gc.TotalOperations : double.NaN,
            Description = m.GetCustomAttribute<DescriptionAttribute>()?.Description ?? "",
        };
    }

    /// <summary>The report model of a whole run.</summary>
    public static Report Build(IEnumerable<Summary> summaries, RunInfo run, out List<string> warnings)
    {
        var report = new Report { Run = run };
        warnings = [];
        foreach (Summary s in summaries)
        {
            Built b = Of(s);
            report.Configs.AddRange(b.Configs.Values);
            report.Iterations.AddRange(b.Iterations);
            report.Percentiles.AddRange(b.Percentiles);
            report.Micro.AddRange(b.Micro);
            warnings.AddRange(b.Warnings);
        }
        return report;
    }
}

using PerfLab.Reports.Model;

namespace PerfLab.Tests.Reports;

/// <summary>A fixed small run: three strategies at two frame sizes, a load sweep, a DPDK
/// baseline, percentile ladders and a micro-benchmark. Numbers are made up but plausible.</summary>
public static class SampleData
{
    public static Report Create(bool withDpdk = true)
    {
        var run = new RunInfo();
        run.Set(RunInfo.Title, "PerfLab benchmark report (test data)");
        run.Set(RunInfo.Date, "2026-01-02 03:04:05 UTC");
        run.Set(RunInfo.Profile, "test");
        run.Set(RunInfo.CpuModel, "Test CPU | with a pipe");
        run.Set(RunInfo.CacheLineBefore, "55");
        run.Set(RunInfo.CacheLineAfter, "230");
        var report = new Report { Run = run };
        string[] polls = ["busy", "hybrid", "interrupt"];
        double[] maxMpps = [12, 9, 1.6];
        for (int s = 0; s < polls.Length; s++)
        {
            foreach (int size in new[] { 64, 1500 })
            {
                Add(report, PeerNames.PerfLab, polls[s], size, 100, maxMpps[s] * (size == 64 ? 1 : 0.6), 0, 20_000 * (s + 1));
            }
            foreach (int load in new[] { 10, 50, 90 })
            {
                double offered = 12 * load / 100.0;
                Add(report, PeerNames.PerfLab, polls[s], 64, load, Math.Min(offered, maxMpps[s]), offered, 2_000 * (s + 1) * (1 + load / 30.0));
            }
        }
        if (withDpdk)
        {
            Add(report, PeerNames.Dpdk, "busy", 64, 100, 14, 0, 15_000);
            Add(report, PeerNames.Dpdk, "busy", 1500, 100, 8, 0, 15_000);
            Add(report, PeerNames.Dpdk, "busy", 64, 50, 6, 6, 1_500);
        }
        report.Micro.Add(new MicroResult { Benchmark = "Rings.ChainWalk", Parameters = "Descriptors=4", MeanNs = 12.5, StdDevNs = 0.3, MinNs = 12.1, MaxNs = 13.2, AllocatedBytesPerOp = 0, Gen0Per1kOps = 0, Description = "walk a 4-descriptor chain" });
        return report;
    }

    private static void Add(Report report, string peer, string poll, int size, int load, double mpps, double offered, double p50Ns)
    {
        string id = $"{peer} {poll}/{poll} {size}B q256 b32 load{load}";
        var r = new ConfigResult
        {
            Id = id,
            Peer = peer,
            BackendPoll = poll,
            GuestPoll = poll,
            FrameSize = size,
            QueueSize = 256,
            Burst = 32,
            LoadPct = load,
            OfferedMpps = offered,
            Iterations = 5,
            MeanNsPerFrame = 1000 / mpps,
            StdDevNsPerFrame = 10 / mpps,
            MinNsPerFrame = 970 / mpps,
            MaxNsPerFrame = 1040 / mpps,
            LatencySamples = 5_000_000,
            P50Ns = p50Ns,
            P50LowNs = p50Ns * 0.9,
            P50HighNs = p50Ns * 1.1,
            P90Ns = p50Ns * 1.5,
            P99Ns = p50Ns * 3,
            P99LowNs = p50Ns * 2.5,
            P99HighNs = p50Ns * 4,
            P999Ns = p50Ns * 10,
            P999LowNs = p50Ns * 8,
            P999HighNs = p50Ns * 14,
            MaxLatencyNs = p50Ns * 100,
            BackendCpuPct = poll == "busy" ? 100 : 20 + load * 0.6,
            BackendCpuPctLow = poll == "busy" ? 99 : 18 + load * 0.6,
            BackendCpuPctHigh = poll == "busy" ? 101 : 23 + load * 0.6,
            BackendCpuNsPerFrame = 1000 / mpps,
            LoadgenCpuPct = 100,
            LoadgenCpuNsPerFrame = 900 / mpps,
            KicksPerFrame = poll == "busy" ? 0 : 0.03,
            CallsPerFrame = poll == "busy" ? 0 : 0.06,
            AllocatedBytesPerFrame = 0,
            Gen0Per1kFrames = 0,
            Gen1Per1kFrames = 0,
            Gen2Per1kFrames = 0,
            BackendGen0 = peer == PeerNames.Dpdk ? -1 : 0,
            BackendGen1 = peer == PeerNames.Dpdk ? -1 : 0,
            BackendGen2 = peer == PeerNames.Dpdk ? -1 : 0,
        }.WithDerivedThroughput();
        if (peer == PeerNames.Dpdk)
        {
            r.KicksPerFrame = double.NaN;
        }
        report.Configs.Add(r);
        foreach (double p in new[] { 0, 50, 90, 99, 99.9, 99.99, 99.999, 100 })
        {
            double factor = p switch { < 50 => 0.5, < 90 => 1, < 99 => 1.5, < 99.9 => 3, < 99.99 => 10, < 100 => 30, _ => 100 };
            report.Percentiles.Add(new PercentilePoint { ConfigId = id, Percentile = p, LatencyNs = p50Ns * factor, CountAtOrBelow = (long)(5_000_000 * p / 100) });
        }
        for (int i = 1; i <= 2; i++)
        {
            report.Iterations.Add(new IterationResult { ConfigId = id, Iteration = i, NsPerFrame = 1000 / mpps, Frames = 500_000, P50Ns = p50Ns, P99Ns = p50Ns * 3, P999Ns = p50Ns * 10, MaxLatencyNs = p50Ns * 50 });
        }
    }
}

using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Tests.Reports;

/// <summary>
/// A fixed small run: busy, interrupt and hybrid at 64 B (busy the reference of the other two),
/// busy at 1500 B, six rounds (the fourth in a far placement, so flagged), every search and
/// load-point figure, the reference's same-rate points, percentile ladders and a
/// micro-benchmark. Made up but plausible: interrupt's PDR is clearly lower than busy's
/// (about ×0.3 every round), hybrid's NDR is busy's within ±4 % (no significant difference).
/// </summary>
public static class SampleData
{
    public static readonly double[] C2c = [55, 60, 58, 330, 57, 62];

    public static Report Create()
    {
        var run = new RunInfo();
        run.Set(RunInfo.Title, "PerfLab benchmark report (test data)");
        run.Set(RunInfo.Date, "2026-01-02 03:04:05 UTC");
        run.Set(RunInfo.Profile, "test");
        run.Set(RunInfo.Host, "testhost");
        run.Set(RunInfo.GitCommit, "abc1234");
        run.Set(RunInfo.CpuModel, "Test CPU | with a pipe");
        run.Set(RunInfo.Cores, "2 online");
        run.Set(RunInfo.Hypervisor, "KVM");
        run.Set(RunInfo.StealPct, "2.5");
        var report = new Report { Run = run };
        report.Configs.Add(Config("busy-64", "busy", 64, ""));
        report.Configs.Add(Config("interrupt-64", "interrupt", 64, "busy-64"));
        report.Configs.Add(Config("hybrid-64", "hybrid", 64, "busy-64"));
        report.Configs.Add(Config("busy-1500", "busy", 1500, ""));
        double[] wobble = [1.00, 1.03, 0.98, 0.60, 1.01, 0.97];
        double[] hybridNoise = [1.04, 0.97, 1.02, 1.0, 0.96, 1.03];
        for (int r = 1; r <= C2c.Length; r++)
        {
            var ids = report.Configs.Select(c => c.Id).ToList();
            var order = RoundOrder.Rotated(ids, r);
            report.Rounds.Add(new RoundInfo
            {
                Round = r,
                StartedUtc = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddMinutes(r),
                C2cNs = C2c[r - 1],
                C2cClass = C2cClass.Of(C2c[r - 1]),
                Order = string.Join(' ', order),
            });
            double w = wobble[r - 1];
            foreach (string id in order)
            {
                var s = new RoundSample { Round = r, ConfigId = id, Position = order.ToList().IndexOf(id) };
                (double ndr, double pdr, double floorUs, double cpu) = id switch
                {
                    "busy-64" => (10.0 * w, 12.0 * w, 2.0, 50.0),
                    "interrupt-64" => (2.5 * w, 3.6 * w, 30.0, 400.0),
                    "hybrid-64" => (10.0 * w * hybridNoise[r - 1], 11.0 * w, 9.0, 90.0),
                    _ => (3.0 * w, 3.5 * w, 6.0, 150.0),
                };
                Search(s, ndr, pdr, report.Config(id)!.FrameSize);
                foreach (int load in Metrics.LoadPoints)
                {
                    double offered = load == 0 ? 0 : pdr * load / 100;
                    double p99 = floorUs * (1 + load / 40.0) * (load == 0 ? 1 : 1.5);
                    Point(s, "", load, offered, p99, cpu * (load == 0 ? 20 : 1), id.StartsWith("busy", StringComparison.Ordinal) ? 100 : 10 + load / 2.0);
                }
                report.Samples.Add(s);
            }
            // The reference, measured at each dependent's rates in the same round.
            foreach (RoundSample dep in report.Samples.Where(x => x.Round == r && x.ConfigId is "interrupt-64" or "hybrid-64"))
            {
                foreach (int load in Metrics.SameRatePoints)
                {
                    Point(dep, Metrics.RefPrefix, load, dep.Get(Metrics.At(Metrics.OfferedMpps, load)), 2.5 * (1 + load / 100.0), 60, 100);
                }
            }
        }
        Summaries.FlagRounds(report.Rounds);
        foreach (ConfigInfo c in report.Configs)
        {
            double baseNs = c.BackendPoll == "busy" ? 3_000 : 40_000;
            foreach (var (p, k) in new[] { (0.0, 1.0), (50.0, 1.2), (90.0, 1.6), (99.0, 3.0), (99.9, 8.0), (99.99, 20.0) })
            {
                report.Percentiles.Add(new PercentilePoint { ConfigId = c.Id, Load = Views.SpectrumLoad, Percentile = p, LatencyNs = baseNs * k, CountAtOrBelow = (long)(p * 1000) });
            }
        }
        report.Micro.Add(new MicroResult { Benchmark = "Rings.ChainWalk", Parameters = "Descriptors=4", MeanNs = 12.5, StdDevNs = 0.3, MinNs = 12.1, MaxNs = 13.2, AllocatedBytesPerOp = 0, Gen0Per1kOps = 0, Description = "walk a 4-descriptor chain" });
        return report;
    }

    private static ConfigInfo Config(string id, string poll, int frame, string reference) => new()
    {
        Id = id,
        Label = $"{poll} / {poll}, {frame} B",
        BackendPoll = poll,
        GuestPoll = poll,
        FrameSize = frame,
        QueueSize = 256,
        Burst = 32,
        Reference = reference,
    };

    private static void Search(RoundSample s, double ndr, double pdr, int frame)
    {
        s.Values[Metrics.NdrMpps] = ndr;
        s.Values[Metrics.NdrLowerMpps] = ndr;
        s.Values[Metrics.NdrUpperMpps] = ndr * 1.004;
        s.Values[Metrics.NdrTrials] = 14;
        s.Values[Metrics.NdrRegular] = 1;
        s.Values[Metrics.NdrGbps] = ndr * frame * 8 / 1000;
        s.Values[Metrics.PdrMpps] = pdr;
        s.Values[Metrics.PdrLowerMpps] = pdr;
        s.Values[Metrics.PdrUpperMpps] = pdr * 1.004;
        s.Values[Metrics.PdrTrials] = 20;
        s.Values[Metrics.PdrRegular] = 1;
        s.Values[Metrics.PdrGbps] = pdr * frame * 8 / 1000;
        s.Values[Metrics.SearchTrials] = 20;
        s.Values[Metrics.SearchSeconds] = 2.5;
        s.Values[Metrics.MaxLoadMpps] = pdr * 2.2;
    }

    private static void Point(RoundSample s, string prefix, int load, double offered, double p99, double cpuNs, double cpuPct)
    {
        void Put(string q, double v) => s.Values[prefix + Metrics.At(q, load)] = v;
        Put(Metrics.OfferedMpps, offered);
        Put(Metrics.RxMpps, load == 0 ? 1 / (p99 / 2) : offered);
        Put(Metrics.Loss, 0);
        Put(Metrics.P50Us, p99 / 2);
        Put(Metrics.P90Us, p99 / 1.3);
        Put(Metrics.P99Us, p99);
        Put(Metrics.P999Us, p99 * 2);
        Put(Metrics.MaxUs, p99 * 5);
        Put(Metrics.BackendCpuPct, cpuPct);
        Put(Metrics.BackendNsPerFrame, cpuNs);
        Put(Metrics.LoadgenCpuPct, 100);
        Put(Metrics.LoadgenNsPerFrame, cpuNs * 1.1);
        Put(Metrics.KicksPerFrame, cpuPct < 100 ? 0.02 : 0);
        Put(Metrics.CallsPerFrame, cpuPct < 100 ? 0.02 : 0);
    }
}

using System.Globalization;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Reports.Density;

/// <summary>One cell of the density benchmark: a back-end strategy serving this many devices
/// on one worker core, its figures as medians with their intervals over the used rounds.</summary>
public sealed record DensityCell(string Strategy, int Devices, string ConfigId, IReadOnlyDictionary<string, MedianInterval> Figures)
{
    public MedianInterval this[string metric] => Figures.TryGetValue(metric, out MedianInterval m) ? m : MedianInterval.Empty;

    public double Median(string metric) => this[metric].Median;
}

/// <summary>
/// The density benchmark's results (scripts/density, issue 14): per polling strategy and
/// device count, delivered throughput at a fixed total offered load split evenly over the
/// devices, latency, the back-end's CPU under that load and with every device connected and
/// silent. Configurations are named STRATEGY@DEVICES in the journal. A cell "holds" when it
/// carried the load (median loss within the allowance) with its median p99 under the limit.
/// </summary>
public sealed class DensityTable
{
    /// <summary>The back-end process's CPU share with every device connected and silent.</summary>
    public const string IdleCpuPct = "idle_be_cpu_pct";

    /// <summary>The worker thread's CPU share with every device connected and silent.</summary>
    public const string IdleWorkerCpuPct = "idle_worker_cpu_pct";

    /// <summary>The worker's wake-ups per second with every device connected and silent.</summary>
    public const string IdleWakeupsPerS = "idle_wakeups_s";

    /// <summary>The figures the table, the CSV and the plots show, in that order.</summary>
    public static readonly IReadOnlyList<string> Shown =
    [
        Metrics.OfferedMpps, Metrics.Mpps, Metrics.Loss, Metrics.P50Us, Metrics.P99Us,
        Metrics.BackendCpuPct, Metrics.BackendNsPerFrame, IdleCpuPct, IdleWorkerCpuPct, IdleWakeupsPerS,
        Metrics.LoadgenCpuPct, "behind_ratio",
    ];

    private DensityTable(Report report, List<DensityCell> cells, double p99LimitUs, double maxLoss)
    {
        Report = report;
        Cells = cells;
        P99LimitUs = p99LimitUs;
        MaxLoss = maxLoss;
    }

    public Report Report { get; }

    /// <summary>Strategies in first-seen order, device counts ascending within each.</summary>
    public IReadOnlyList<DensityCell> Cells { get; }

    public double P99LimitUs { get; }

    public double MaxLoss { get; }

    public IReadOnlyList<string> Strategies => [.. Cells.Select(c => c.Strategy).Distinct()];

    public IReadOnlyList<int> Counts => [.. Cells.Select(c => c.Devices).Distinct().Order()];

    public HashSet<int> UsedRounds => Summaries.UsedRounds(Report);

    /// <summary>"interrupt@16" → ("interrupt", 16); null for an id of another shape.</summary>
    public static (string Strategy, int Devices)? ParseId(string id)
    {
        int at = id.LastIndexOf('@');
        return at > 0 && int.TryParse(id.AsSpan(at + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0
            ? (id[..at], n)
            : null;
    }

    public static string IdOf(string strategy, int devices) => $"{strategy}@{devices.ToString(CultureInfo.InvariantCulture)}";

    public static DensityTable From(Report report, double p99LimitUs = 100, double maxLoss = 0.01)
    {
        var used = Summaries.UsedRounds(report);
        var parsed = report.Configs.Select(c => (c.Id, P: ParseId(c.Id))).Where(x => x.P is not null).ToList();
        if (parsed.Count == 0)
        {
            throw new InvalidDataException($"no STRATEGY@DEVICES configurations in this journal ({string.Join(", ", report.Configs.Select(c => c.Id))})");
        }
        var strategies = parsed.Select(x => x.P!.Value.Strategy).Distinct().ToList();
        var cells = new List<DensityCell>();
        foreach (string s in strategies)
        {
            foreach (var (id, p) in parsed.Where(x => x.P!.Value.Strategy == s).OrderBy(x => x.P!.Value.Devices))
            {
                var figures = Summaries.MetricsOf(report, id).ToDictionary(m => m, m => Summaries.Of(report, id, m, used), StringComparer.Ordinal);
                cells.Add(new DensityCell(s, p!.Value.Devices, id, figures));
            }
        }
        return new DensityTable(report, cells, p99LimitUs, maxLoss);
    }

    public DensityCell? Cell(string strategy, int devices) => Cells.FirstOrDefault(c => c.Strategy == strategy && c.Devices == devices);

    /// <summary>It delivered what was offered: median loss ratio within the allowance.</summary>
    public bool Carried(DensityCell c) => c.Median(Metrics.Loss) is var loss && double.IsFinite(loss) && loss <= MaxLoss;

    /// <summary>Carried, with the median p99 under the limit.</summary>
    public bool Holds(DensityCell c) => Carried(c) && c.Median(Metrics.P99Us) is var p99 && double.IsFinite(p99) && p99 < P99LimitUs;

    /// <summary>The largest device count at which the strategy holds, or null when none does.</summary>
    public int? LargestHolding(string strategy) =>
        Cells.Where(c => c.Strategy == strategy && Holds(c)).Select(c => (int?)c.Devices).DefaultIfEmpty(null).Max();

    /// <summary>Counts below <see cref="LargestHolding"/> that did not hold (a non-monotone result: say so).</summary>
    public IReadOnlyList<int> FailingBelow(string strategy)
    {
        int? top = LargestHolding(strategy);
        return top is null ? [] : [.. Cells.Where(c => c.Strategy == strategy && c.Devices < top && !Holds(c)).Select(c => c.Devices)];
    }

    /// <summary>One sentence per strategy: the largest count that held, at what offered rate.</summary>
    public IEnumerable<string> Verdicts()
    {
        foreach (string s in Strategies)
        {
            int? top = LargestHolding(s);
            double offered = Cells.Where(c => c.Strategy == s).Select(c => c.Median(Metrics.OfferedMpps)).Where(double.IsFinite).DefaultIfEmpty(double.NaN).Max();
            string rate = double.IsFinite(offered) ? $"{offered.ToString("0.###", CultureInfo.InvariantCulture)} Mpps total" : "the offered load";
            string limit = P99LimitUs.ToString("0.##", CultureInfo.InvariantCulture);
            string loss = (MaxLoss * 100).ToString("0.##", CultureInfo.InvariantCulture);
            if (top is null)
            {
                yield return $"{s}: no device count carried {rate} (loss <= {loss} %) with p99 under {limit} µs";
                continue;
            }
            var gaps = FailingBelow(s);
            string note = gaps.Count > 0 ? $" (but not {string.Join(", ", gaps)})" : "";
            yield return $"{s}: largest device count carrying {rate} (loss <= {loss} %) with p99 under {limit} µs: {top}{note}";
        }
    }
}

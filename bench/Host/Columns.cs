using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using PerfLab.Bench.EndToEnd;
using PerfLab.Reports.Markdown;
using PerfLab.Reports.Model;

namespace PerfLab.Bench.Host;

/// <summary>
/// A column of BenchmarkDotNet's summary filled from the report model of the end-to-end
/// cases (<see cref="ReportBuilder"/>): the same figures report.md shows.
/// </summary>
public sealed class ConfigColumn : IColumn
{
    private readonly Func<ConfigResult, IReadOnlyList<ConfigResult>, string> _value;

    public ConfigColumn(string name, string legend, int priority, Func<ConfigResult, IReadOnlyList<ConfigResult>, string> value)
    {
        ColumnName = name;
        Legend = legend;
        PriorityInCategory = priority;
        _value = value;
    }

    public string Id => "PerfLab." + ColumnName;
    public string ColumnName { get; }
    public string Legend { get; }
    public int PriorityInCategory { get; }
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;

    public bool IsAvailable(Summary summary) => summary.BenchmarksCases.Any(bc => bc.Descriptor.Type == typeof(EndToEndBenchmark));

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        ConfigResult? r = ReportBuilder.ConfigOf(summary, benchmarkCase);
        return r is null ? "-" : _value(r, ReportBuilder.Of(summary).Configs.Values.ToList());
    }

    public override string ToString() => ColumnName;

    /// <summary>Every PerfLab column, in display order.</summary>
    public static IColumn[] All() =>
    [
        new ConfigColumn("Mpps", "Million frames per second (1000 / Mean)", 0, (r, _) => Format.Num(r.Mpps)),
        new ConfigColumn("Gb/s", "Frame bytes per second, in gigabits", 1, (r, _) => Format.Num(r.Gbps)),
        new ConfigColumn("p50 us", "Round-trip latency, median, measured iterations only (HdrHistogram)", 2, (r, _) => Format.Micros(r.P50Ns)),
        new ConfigColumn("p99 us", "Round-trip latency, 99th percentile", 3, (r, _) => Format.Micros(r.P99Ns)),
        new ConfigColumn("p99.9 us", "Round-trip latency, 99.9th percentile", 4, (r, _) => Format.Micros(r.P999Ns)),
        new ConfigColumn("BE CPU %", "Back-end process CPU, % of one core", 5, (r, _) => Format.Num(r.BackendCpuPct, 0)),
        new ConfigColumn("BE ns/frame", "Back-end CPU time per frame", 6, (r, _) => Format.Num(r.BackendCpuNsPerFrame, 0)),
        new ConfigColumn("LG CPU %", "Load generator process CPU, % of one core", 7, (r, _) => Format.Num(r.LoadgenCpuPct, 0)),
        new ConfigColumn("LG ns/frame", "Load generator traffic thread CPU time per frame", 8, (r, _) => Format.Num(r.LoadgenCpuNsPerFrame, 0)),
        new ConfigColumn("Kicks/frame", "Kicks the guest sent per frame", 9, (r, _) => Format.Num(r.KicksPerFrame, 3)),
        new ConfigColumn("Calls/frame", "Calls (interrupts) the guest received per frame", 10, (r, _) => Format.Num(r.CallsPerFrame, 3)),
        new ConfigColumn("LG GCs/1k", "Load generator (this process) gen0+gen1+gen2 collections per 1000 frames (MemoryDiagnoser)", 11,
            (r, _) => Format.Num(r.Gen0Per1kFrames + r.Gen1Per1kFrames + r.Gen2Per1kFrames, 3)),
        new ConfigColumn("BE GCs", "Back-end gen0/gen1/gen2 collections over the measured iterations", 12,
            (r, _) => r.BackendGen0 < 0 ? "-" : $"{r.BackendGen0}/{r.BackendGen1}/{r.BackendGen2}"),
        new ConfigColumn("vs baseline", "Mpps ratio to the baseline (DPDK when installed, else busy/busy) at the same size, queue, burst, load", 13,
            (r, all) => Views.IsBaseline(r, Views.HasDpdk(all)) ? "baseline" : Views.BaselineOf(r, all) is { } b ? Format.Ratio(r.Mpps / b.Mpps) : "-"),
    ];
}

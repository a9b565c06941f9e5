namespace PerfLab.Reports.Model;

/// <summary>Everything one report folder holds, before rendering.</summary>
public sealed class Report
{
    public RunInfo Run { get; init; } = new();
    public List<ConfigResult> Configs { get; init; } = [];
    public List<IterationResult> Iterations { get; init; } = [];
    public List<PercentilePoint> Percentiles { get; init; } = [];
    public List<MicroResult> Micro { get; init; } = [];

    public IEnumerable<PercentilePoint> PercentilesOf(string configId) => Percentiles.Where(p => p.ConfigId == configId);
}

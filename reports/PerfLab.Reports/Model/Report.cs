namespace PerfLab.Reports.Model;

/// <summary>Everything one report folder holds, before rendering.</summary>
public sealed class Report
{
    public RunInfo Run { get; init; } = new();
    public List<ConfigInfo> Configs { get; init; } = [];
    public List<RoundInfo> Rounds { get; init; } = [];
    public List<RoundSample> Samples { get; init; } = [];
    public List<TrialRecord> Trials { get; init; } = [];
    public List<PercentilePoint> Percentiles { get; init; } = [];
    public List<MicroResult> Micro { get; init; } = [];

    public IEnumerable<PercentilePoint> PercentilesOf(string configId) => Percentiles.Where(p => p.ConfigId == configId);

    public ConfigInfo? Config(string id) => Configs.FirstOrDefault(c => c.Id == id);
}

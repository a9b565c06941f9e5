namespace PerfLab.Reports.Model;

/// <summary>
/// One step of a configuration's latency distribution at one load point, as HdrHistogram's
/// percentile iteration prints it (the <c>.hgrm</c> table): the value reached at a percentile
/// and how many samples lie at or below it. Merged over the run's unflagged rounds.
/// </summary>
public sealed class PercentilePoint
{
    public string ConfigId { get; set; } = "";

    /// <summary>The load point (see <see cref="Metrics.LoadPoints"/>).</summary>
    public int Load { get; set; }

    /// <summary>0 to 100.</summary>
    public double Percentile { get; set; }
    public double LatencyNs { get; set; }
    public long CountAtOrBelow { get; set; }
}

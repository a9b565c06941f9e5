namespace PerfLab.Reports.Statistics;

/// <summary>What a ratio's interval says about the difference.</summary>
public enum RatioVerdict
{
    /// <summary>Too few rounds with both sides measured.</summary>
    Unknown,

    /// <summary>The interval contains 1: the difference is inside the noise of this run.</summary>
    NoSignificantDifference,

    /// <summary>The whole interval lies above 1.</summary>
    Higher,

    /// <summary>The whole interval lies below 1.</summary>
    Lower,
}

/// <summary>
/// The ratio of a configuration to its reference, computed per round (both sides of a round
/// saw the same host: the same vCPU placement, the same neighbours) and summarised as the
/// median of those ratios with its order-statistic interval (<see cref="MedianInterval"/>).
/// A round where either side is missing is left out.
/// </summary>
public readonly record struct PairedRatio(MedianInterval Ratio, RatioVerdict Verdict)
{
    public static PairedRatio Of(IReadOnlyDictionary<int, double> byRound, IReadOnlyDictionary<int, double> referenceByRound)
    {
        var ratios = new List<double>();
        foreach (var (round, v) in byRound)
        {
            if (referenceByRound.TryGetValue(round, out double r) && double.IsFinite(v) && double.IsFinite(r) && r != 0)
            {
                ratios.Add(v / r);
            }
        }
        MedianInterval m = MedianInterval.Of(ratios);
        return new PairedRatio(m, VerdictOf(m));
    }

    public static RatioVerdict VerdictOf(MedianInterval m) =>
        !m.HasInterval ? RatioVerdict.Unknown
        : m.Low > 1 ? RatioVerdict.Higher
        : m.High < 1 ? RatioVerdict.Lower
        : RatioVerdict.NoSignificantDifference;
}

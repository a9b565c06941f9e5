namespace PerfLab.Reports.Statistics;

/// <summary>What a ratio's interval says about the difference.</summary>
public enum RatioVerdict
{
    /// <summary>Too few rounds with both sides measured for the interval to mean much
    /// (its coverage below <see cref="PairedRatio.MinCoverage"/>).</summary>
    Unknown,

    /// <summary>The whole interval lies within ±<see cref="PairedRatio.Negligible"/> of 1:
    /// a difference too small to matter, even if the rounds agree on its sign.</summary>
    Same,

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
    /// <summary>Below this coverage (fewer than 5 rounds) no verdict is given.</summary>
    public const double MinCoverage = 0.9;

    /// <summary>Ratios within 1 ± this are the same for every practical purpose.</summary>
    public const double Negligible = 0.01;

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
        !m.HasInterval || m.Coverage < MinCoverage ? RatioVerdict.Unknown
        : m.Low >= 1 - Negligible && m.High <= 1 + Negligible ? RatioVerdict.Same
        : m.Low > 1 ? RatioVerdict.Higher
        : m.High < 1 ? RatioVerdict.Lower
        : RatioVerdict.NoSignificantDifference;
}

namespace PerfLab.Bench.Method.Search;

/// <summary>Where a load stands for a target (RFC 9971 §"Load Classification").</summary>
public enum LoadClass
{
    Undecided,
    LowerBound,
    UpperBound,
}

/// <summary>
/// RFC 9971's two computations over the trials measured at one load, for one target:
/// its classification (appendix "Load Classification Code") and its conditional throughput
/// (appendix "Conditional Throughput Code"), restated here. A trial is full-length when its
/// intended duration reaches the target's; short trials count against a lower bound only
/// in so far as their high-loss time exceeds what the exceed ratio allows for their low-loss
/// time.
/// </summary>
public static class LoadClassifier
{
    public static LoadClass Classify(IReadOnlyList<SearchTrial> trials, SearchTarget t)
    {
        var (fullLow, fullHigh, shortLow, shortHigh) = Sums(trials, t);
        double exceed = t.Goal.ExceedRatio;
        double balancing = shortLow * exceed / (1 - exceed);
        double effectiveHigh = fullHigh + Math.Max(0, shortHigh - balancing);
        double effectiveFull = fullLow + effectiveHigh;
        double whole = Math.Max(effectiveFull, t.DurationSumS);
        double allowed = whole * exceed;
        // Optimistic: every trial still missing is low-loss; pessimistic: every one is high-loss.
        bool optimisticLower = effectiveHigh <= allowed;
        bool pessimisticLower = whole - fullLow <= allowed;
        return pessimisticLower ? LoadClass.LowerBound
            : !optimisticLower ? LoadClass.UpperBound
            : LoadClass.Undecided;
    }

    /// <summary>The conditional throughput at a load (meaningful at the relevant lower bound):
    /// the load times the forwarding ratio of the full-length trial at the exceed-ratio
    /// quantile of their loss ratios, durations weighted, the missing duration sum counted
    /// as total loss. NaN without a full-length trial.</summary>
    public static double ConditionalThroughput(double loadPps, IReadOnlyList<SearchTrial> trials, SearchTarget t)
    {
        var full = trials.Where(x => x.DurationS >= t.TrialS - 1e-9).OrderBy(x => x.LossRatio).ToList();
        if (full.Count == 0)
        {
            return double.NaN;
        }
        double whole = Math.Max(t.DurationSumS, full.Sum(x => x.EffectiveS));
        double remaining = whole * (1 - t.Goal.ExceedRatio);
        double? quantileLoss = null;
        foreach (SearchTrial x in full)
        {
            if (quantileLoss is null || remaining > 0)
            {
                quantileLoss = x.LossRatio;
                remaining -= x.EffectiveS;
            }
            else
            {
                break;
            }
        }
        if (remaining > 0)
        {
            quantileLoss = 1;
        }
        return loadPps * (1 - quantileLoss!.Value);
    }

    private static (double FullLow, double FullHigh, double ShortLow, double ShortHigh) Sums(IReadOnlyList<SearchTrial> trials, SearchTarget t)
    {
        double fl = 0, fh = 0, sl = 0, sh = 0;
        foreach (SearchTrial x in trials)
        {
            bool full = x.DurationS >= t.TrialS - 1e-9;
            bool high = x.LossRatio > t.Goal.LossRatio;
            if (full)
            {
                if (high)
                {
                    fh += x.EffectiveS;
                }
                else
                {
                    fl += x.EffectiveS;
                }
            }
            else if (high)
            {
                sh += x.EffectiveS;
            }
            else
            {
                sl += x.EffectiveS;
            }
        }
        return (fl, fh, sl, sh);
    }
}

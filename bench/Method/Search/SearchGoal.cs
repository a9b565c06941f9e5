namespace PerfLab.Bench.Method.Search;

/// <summary>
/// One MLRsearch goal (RFC 9971 §"Goal Terms"): a loss ratio to uphold, the share of trial
/// time allowed to exceed it, the trial duration a lower bound needs, the duration sum that
/// decides a load, and the relative width at which the search may stop. The controller
/// reaches the final target through coarser ones (shorter trials and sums, doubled width),
/// as FD.io CSIT does with its "preceding targets".
/// </summary>
public sealed record SearchGoal
{
    public string Name { get; init; } = "";

    /// <summary>Goal Loss Ratio, in [0, 1).</summary>
    public double LossRatio { get; init; }

    /// <summary>Goal Exceed Ratio, in [0, 1).</summary>
    public double ExceedRatio { get; init; } = 0.5;

    /// <summary>Goal Width, relative: the search stops when (upper - lower) / upper ≤ this.</summary>
    public double Width { get; init; } = 0.005;

    /// <summary>Goal Final Trial Duration, s.</summary>
    public double FinalTrialS { get; init; } = 1;

    /// <summary>Goal Duration Sum, s.</summary>
    public double DurationSumS { get; init; } = 21;

    /// <summary>Goal Initial Trial Duration, s: the shortest trials the controller uses for this goal.</summary>
    public double InitialTrialS { get; init; } = 1;

    /// <summary>Coarser targets before the final one.</summary>
    public int PrecedingTargets { get; init; } = 2;

    /// <summary>How much an external search step widens each time (CSIT: 2).</summary>
    public double ExpansionCoefficient { get; init; } = 2;

    /// <summary>The targets from the coarsest to the final one: trial duration, duration sum
    /// and width. The duration sums shrink geometrically from the goal's sum to the initial
    /// trial duration; each coarser target doubles the width.</summary>
    public IReadOnlyList<SearchTarget> Targets()
    {
        var list = new List<SearchTarget>();
        double m = PrecedingTargets > 0 ? Math.Pow(InitialTrialS / DurationSumS, 1.0 / PrecedingTargets) : 1;
        for (int j = PrecedingTargets; j >= 1; j--)
        {
            double sum = j == PrecedingTargets ? InitialTrialS : DurationSumS * Math.Pow(m, j);
            list.Add(new SearchTarget(this, Math.Min(FinalTrialS, sum), sum, Width * Math.Pow(2, j)));
        }
        list.Add(new SearchTarget(this, FinalTrialS, DurationSumS, Width));
        return list;
    }

    /// <summary>Why this goal is not valid, or null.</summary>
    public string? Invalid() =>
        !(LossRatio >= 0 && LossRatio < 1) ? $"goal {Name}: the loss ratio must be in [0, 1), not {LossRatio}"
        : !(ExceedRatio >= 0 && ExceedRatio < 1) ? $"goal {Name}: the exceed ratio must be in [0, 1), not {ExceedRatio}"
        : !(Width > 0 && Width < 1) ? $"goal {Name}: the width must be in (0, 1), not {Width}"
        : !(FinalTrialS > 0) ? $"goal {Name}: the trial duration must be positive, not {FinalTrialS}"
        : !(DurationSumS > 0) ? $"goal {Name}: the duration sum must be positive, not {DurationSumS}"
        : !(InitialTrialS > 0) ? $"goal {Name}: the initial trial duration must be positive, not {InitialTrialS}"
        : PrecedingTargets < 0 ? $"goal {Name}: preceding targets cannot be negative"
        : !(ExpansionCoefficient > 1) ? $"goal {Name}: the expansion coefficient must exceed 1"
        : null;
}

/// <summary>One target of a goal: load classification uses its trial duration (what counts as
/// full length) and its duration sum; the search stops at its width.</summary>
public sealed record SearchTarget(SearchGoal Goal, double TrialS, double DurationSumS, double Width)
{
    public bool IsFinal => TrialS >= Goal.FinalTrialS && DurationSumS >= Goal.DurationSumS && Width <= Goal.Width;
}

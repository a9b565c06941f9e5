namespace PerfLab.Reports.Compare;

/// <summary>What compare says about one metric of one configuration, candidate against base.
/// "Slower" and "faster" mean worse and better for the metric: lower throughput or higher
/// latency or CPU per frame is slower.</summary>
public enum Verdict
{
    /// <summary>Worse by more than the threshold, significantly (the CI gate: exit 1).</summary>
    Slower,

    /// <summary>Better by more than the threshold, significantly.</summary>
    Faster,

    /// <summary>Shown to lie within the threshold both ways (an equivalence test).</summary>
    Same,

    /// <summary>Neither: the rounds scatter too much to tell at this threshold (more rounds,
    /// or a quieter machine, would).</summary>
    Noise,

    /// <summary>Not judged: a count or setting, too few rounds, or a value that is not positive.</summary>
    NotJudged,
}

public static class VerdictText
{
    public static string Of(Verdict v) => v switch
    {
        Verdict.Slower => "slower",
        Verdict.Faster => "faster",
        Verdict.Same => "same",
        Verdict.Noise => "noise",
        _ => "not judged",
    };

    /// <summary>The order of a verdict table: what a reviewer must see first.</summary>
    public static int Rank(Verdict v) => v switch
    {
        Verdict.Slower => 0,
        Verdict.Faster => 1,
        Verdict.Noise => 2,
        Verdict.Same => 3,
        _ => 4,
    };
}

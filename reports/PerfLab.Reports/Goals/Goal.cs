using System.Globalization;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Reports.Goals;

/// <summary>
/// A goal an issue sets, checked on a run's rounds: a metric of one configuration, divided round
/// by round by the same metric of a reference measured in the same round (or taken as it is
/// when there is no reference), compared with a limit. Written as
/// <c>LABEL|CONFIG|REFERENCE|METRIC|OP|LIMIT</c>, OP being <c>&gt;=</c> or <c>&lt;=</c> and
/// REFERENCE empty for an absolute goal (e.g. the fraction of the offered load delivered), or
/// CONFIG itself for the reference measured at this configuration's offered rate in the same
/// round (the bench's <c>ref_</c> figures: <see cref="Metrics.Ref"/>).
/// </summary>
public sealed record Goal(string Label, string Config, string Reference, string Metric, bool AtLeast, double Limit)
{
    public static Goal Parse(string spec)
    {
        string[] f = spec.Split('|');
        if (f.Length != 6 || f[0].Length == 0 || f[1].Length == 0 || f[3].Length == 0 || f[4] is not (">=" or "<=")
            || !double.TryParse(f[5], NumberStyles.Float, CultureInfo.InvariantCulture, out double limit))
        {
            throw new FormatException($"a goal is LABEL|CONFIG|REFERENCE|METRIC|>= or <=|LIMIT (REFERENCE may be empty), not '{spec}'");
        }
        return new Goal(f[0], f[1], f[2], f[3], f[4] == ">=", limit);
    }

    public bool Meets(double v) => double.IsFinite(v) && (AtLeast ? v >= Limit : v <= Limit);

    /// <summary>The goal's value in each used round where it can be computed.</summary>
    public Dictionary<int, double> ByRound(Report r, HashSet<int> used)
    {
        var v = Summaries.ByRound(r, Config, Metric, used);
        if (Reference.Length == 0)
        {
            return v;
        }
        var refs = Reference == Config
            ? Summaries.ByRound(r, Config, Metrics.Ref(Metric), used)
            : Summaries.ByRound(r, Reference, Metric, used);
        return v.Where(kv => refs.TryGetValue(kv.Key, out double d) && d != 0)
            .ToDictionary(kv => kv.Key, kv => kv.Value / refs[kv.Key]);
    }

    public GoalResult Evaluate(Report r, HashSet<int>? used = null)
    {
        var byRound = ByRound(r, used ?? Summaries.UsedRounds(r));
        var m = MedianInterval.Of(byRound.Values);
        double min = byRound.Count > 0 ? byRound.Values.Min() : double.NaN;
        double max = byRound.Count > 0 ? byRound.Values.Max() : double.NaN;
        GoalVerdict verdict = byRound.Count == 0 ? GoalVerdict.NotMeasured : Meets(m.Median) ? GoalVerdict.Pass : GoalVerdict.Fail;
        return new GoalResult(this, m.Median, min, max, byRound.Values.Count(Meets), byRound.Count, verdict);
    }
}

public enum GoalVerdict
{
    Pass,
    Fail,
    NotMeasured,
}

/// <summary>A goal over a run: the median of its per-round values (ratios), their range, how
/// many rounds met the limit, and the verdict, which the median decides.</summary>
public sealed record GoalResult(Goal Goal, double Median, double Min, double Max, int RoundsMet, int Rounds, GoalVerdict Verdict);

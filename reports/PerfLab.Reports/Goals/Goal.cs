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
/// An absolute goal may name a GATE as a seventh field: a round counts only where the gate,
/// measured in that round at the same load, met the limit too (<see cref="Gate"/>).
/// </summary>
public sealed record Goal(string Label, string Config, string Reference, string Metric, bool AtLeast, double Limit)
{
    /// <summary>
    /// For an absolute goal (delivered, loss): the configuration whose own value must meet the
    /// limit in a round for that round to judge this one; empty for none, or
    /// <see cref="Config"/> for its reference measured at the same offered rate (<c>ref_</c>).
    /// Busy polling carrying the same offered load in the same round shows that the host could;
    /// where it too fell short, the host's capacity fell below the load during that round, and
    /// the round says nothing about the strategy (the bench's "load points not carried").
    /// </summary>
    public string Gate { get; init; } = "";

    public static Goal Parse(string spec)
    {
        string[] f = spec.Split('|');
        if (f.Length is not (6 or 7) || f[0].Length == 0 || f[1].Length == 0 || f[3].Length == 0 || f[4] is not (">=" or "<=")
            || !double.TryParse(f[5], NumberStyles.Float, CultureInfo.InvariantCulture, out double limit)
            || (f.Length == 7 && f[2].Length > 0))
        {
            throw new FormatException($"a goal is LABEL|CONFIG|REFERENCE|METRIC|>= or <=|LIMIT[|GATE] (REFERENCE may be empty; GATE only where it is), not '{spec}'");
        }
        return new Goal(f[0], f[1], f[2], f[3], f[4] == ">=", limit) { Gate = f.Length == 7 ? f[6] : "" };
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

    /// <summary>The rounds, among those the goal can be computed in, where its gate fell short
    /// of the limit itself (or was not measured): left out.</summary>
    public HashSet<int> GatedOut(Report r, IEnumerable<int> rounds, HashSet<int> used)
    {
        if (Gate.Length == 0)
        {
            return [];
        }
        var gate = Gate == Config ? Summaries.ByRound(r, Config, Metrics.Ref(Metric), used) : Summaries.ByRound(r, Gate, Metric, used);
        return rounds.Where(k => !gate.TryGetValue(k, out double g) || !Meets(g)).ToHashSet();
    }

    public GoalResult Evaluate(Report r, HashSet<int>? used = null)
    {
        used ??= Summaries.UsedRounds(r);
        var all = ByRound(r, used);
        var gatedOut = GatedOut(r, all.Keys, used);
        var byRound = all.Where(kv => !gatedOut.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
        var m = MedianInterval.Of(byRound.Values);
        double min = byRound.Count > 0 ? byRound.Values.Min() : double.NaN;
        double max = byRound.Count > 0 ? byRound.Values.Max() : double.NaN;
        GoalVerdict verdict = byRound.Count == 0 ? GoalVerdict.NotMeasured : Meets(m.Median) ? GoalVerdict.Pass : GoalVerdict.Fail;
        return new GoalResult(this, m.Median, min, max, byRound.Values.Count(Meets), byRound.Count, verdict) { GatedOut = gatedOut.Count };
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
public sealed record GoalResult(Goal Goal, double Median, double Min, double Max, int RoundsMet, int Rounds, GoalVerdict Verdict)
{
    /// <summary>Rounds left out because the goal's gate fell short too (<see cref="Goal.Gate"/>).</summary>
    public int GatedOut { get; init; }
}

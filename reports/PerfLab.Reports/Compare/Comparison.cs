using PerfLab.Reports.Model;

namespace PerfLab.Reports.Compare;

/// <summary>One row of the verdict table: one metric of one configuration present in both runs.</summary>
public sealed record ComparisonRow(string ConfigId, string Label, string Metric, MetricDef Def, RatioResult Result)
{
    public Verdict Verdict => Result.Verdict;

    /// <summary>The ratio oriented so that above 1 is better (throughput up, latency down).</summary>
    public double Gain => Def.Better == Better.Lower ? 1 / Result.Ratio : Result.Ratio;
}

/// <summary>Everything compare found: the rows, most important first, what only one run has,
/// what could not be checked, and the summary.</summary>
public sealed class Comparison
{
    public required string BaseName { get; init; }
    public required string CandidateName { get; init; }
    public required Report Base { get; init; }
    public required Report Candidate { get; init; }
    public required double Threshold { get; init; }
    public List<ComparisonRow> Rows { get; } = [];
    public List<string> OnlyInBase { get; } = [];
    public List<string> OnlyInCandidate { get; } = [];
    public List<Comparability.Check> Checks { get; } = [];

    /// <summary>Set when the runs differ in host, CPU or c2c class and --force compared them anyway.</summary>
    public string? Forced { get; set; }

    public bool Regressed => Rows.Any(r => r.Verdict == Verdict.Slower);

    public int Count(Verdict v) => Rows.Count(r => r.Verdict == v);

    /// <summary>Geometric mean of the judged rows' gains (above 1: better on the whole); NaN without
    /// any, or when every judged row is noise (a mean of noise reads as a result and is not one).</summary>
    public double GeometricMeanGain
    {
        get
        {
            if (AllNoise)
            {
                return double.NaN;
            }
            var g = Rows.Where(r => r.Verdict != Verdict.NotJudged && double.IsFinite(r.Gain) && r.Gain > 0).Select(r => Math.Log(r.Gain)).ToList();
            return g.Count == 0 ? double.NaN : Math.Exp(g.Average());
        }
    }

    /// <summary>Rows were judged and every one of them is noise.</summary>
    public bool AllNoise => Rows.Any(r => r.Verdict == Verdict.Noise) && Rows.All(r => r.Verdict is Verdict.Noise or Verdict.NotJudged);

    /// <summary>"12 rows at threshold 5 %: 1 slower, 2 faster, 8 same, 1 noise; geometric mean ×1.03 (3 % better)".</summary>
    public string Summary()
    {
        int judged = Rows.Count(r => r.Verdict != Verdict.NotJudged);
        string counts = string.Join(", ", new[] { Verdict.Slower, Verdict.Faster, Verdict.Same, Verdict.Noise }.Select(v => $"{Count(v)} {VerdictText.Of(v)}"));
        double g = GeometricMeanGain;
        string gm = double.IsFinite(g)
            ? $"geometric mean of the gains ×{g.ToString("F3", System.Globalization.CultureInfo.InvariantCulture)} ({Math.Abs(g - 1) * 100:0.#} % {(g >= 1 ? "better" : "worse")})"
            : AllNoise ? "no geometric mean (every judged row is noise: more rounds or a quieter host would tell)"
            : "no geometric mean (nothing judged)";
        return $"{judged} judged rows at threshold {RatioTest.Pct(Threshold)}: {counts}; {gm}";
    }
}

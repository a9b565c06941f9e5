using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Reports.Compare;

/// <summary>One metric's comparison: both sides' medians over their rounds, the ratio of the
/// medians (candidate ÷ base) with its interval, the two-sided p-value and the verdict.</summary>
public sealed record RatioResult(
    MedianInterval Base,
    MedianInterval Candidate,
    double Ratio,
    double RatioLow,
    double RatioHigh,
    double Coverage,
    double PValue,
    Verdict Verdict,
    string Why);

/// <summary>
/// The verdict of compare and history, as dotnet/performance's ResultsComparer decides it
/// (a Mann-Whitney equivalence test with a required threshold), on the logarithms of the
/// per-round values so that the threshold is a ratio: "slower" when the candidate is worse than
/// the base by more than the threshold, one-sided at <see cref="Alpha"/>; "faster" the mirror;
/// "same" when both one-sided tests of "within the threshold" reject (two one-sided tests);
/// "noise" otherwise. The rounds of two runs are independent samples (different runs saw
/// different hosts' moments), so the test is unpaired.
/// </summary>
public static class RatioTest
{
    public const double Alpha = 0.05;

    /// <summary>Fewer rounds a side and no test can reach <see cref="Alpha"/> (3 and 3: p ≥ 0.05).</summary>
    public const int MinRounds = 3;

    /// <summary>"5 %" from 0.05.</summary>
    public static string Pct(double threshold) => (threshold * 100).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture) + " %";

    public static RatioResult Of(IReadOnlyCollection<double> baseline, IReadOnlyCollection<double> candidate, Better better, double threshold)
    {
        double[] b = baseline.Where(double.IsFinite).ToArray();
        double[] c = candidate.Where(double.IsFinite).ToArray();
        MedianInterval mb = MedianInterval.Of(b), mc = MedianInterval.Of(c);
        double ratio = mb.N > 0 && mc.N > 0 && mb.Median != 0 ? mc.Median / mb.Median : double.NaN;
        RatioResult NotJudged(string why, double low = double.NaN, double high = double.NaN, double cov = 0, double p = double.NaN) =>
            new(mb, mc, ratio, low, high, cov, p, Verdict.NotJudged, why);

        if (b.Length == 0 || c.Length == 0)
        {
            return NotJudged(b.Length == 0 ? "not measured in the base" : "not measured in the candidate");
        }
        if (b.Any(v => v <= 0) || c.Any(v => v <= 0))
        {
            return NotJudged("a value is not positive: no ratio");
        }
        double[] lb = b.Select(v => Math.Log(v)).ToArray(), lc = c.Select(v => Math.Log(v)).ToArray();
        var (lo, hi, coverage) = MannWhitney.ShiftInterval(lc, lb, Alpha);
        double p = MannWhitney.PTwoSided(lc, lb);
        if (better == Better.Neither)
        {
            return NotJudged("a count or a setting", Math.Exp(lo), Math.Exp(hi), coverage, p);
        }
        if (b.Length < MinRounds || c.Length < MinRounds)
        {
            return NotJudged($"fewer than {MinRounds} rounds a side", Math.Exp(lo), Math.Exp(hi), coverage, p);
        }
        // Oriented so that larger is worse: log values for lower-is-better, their negatives otherwise.
        double sign = better == Better.Lower ? 1 : -1;
        double[] ob = lb.Select(v => sign * v).ToArray(), oc = lc.Select(v => sign * v).ToArray();
        double delta = Math.Log(1 + threshold);
        double[] Shift(double[] x, double by) => x.Select(v => v + by).ToArray();
        bool worseBeyond = MannWhitney.PGreater(oc, Shift(ob, delta)) <= Alpha;
        bool betterBeyond = MannWhitney.PGreater(Shift(ob, -delta), oc) <= Alpha;
        bool belowUpper = MannWhitney.PGreater(Shift(ob, delta), oc) <= Alpha;
        bool aboveLower = MannWhitney.PGreater(oc, Shift(ob, -delta)) <= Alpha;
        (Verdict v, string why) = worseBeyond ? (Verdict.Slower, $"worse by more than {Pct(threshold)}")
            : betterBeyond ? (Verdict.Faster, $"better by more than {Pct(threshold)}")
            : belowUpper && aboveLower ? (Verdict.Same, $"within ±{Pct(threshold)}")
            : (Verdict.Noise, $"cannot tell at ±{Pct(threshold)} from these rounds");
        return new RatioResult(mb, mc, ratio, Math.Exp(lo), Math.Exp(hi), coverage, p, v, why);
    }
}

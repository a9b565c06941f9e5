using System.Globalization;

namespace PerfLab.Reports.Markdown;

/// <summary>Number formatting for report.md: invariant culture, "–" for unknown.</summary>
public static class Format
{
    public const string Unknown = "–";

    private static readonly CultureInfo Ci = CultureInfo.InvariantCulture;

    public static bool Known(double v) => !double.IsNaN(v) && !double.IsInfinity(v);

    /// <summary>Three significant figures, at most <paramref name="maxDecimals"/> decimals.</summary>
    public static string Num(double v, int maxDecimals = 2)
    {
        if (!Known(v))
        {
            return Unknown;
        }
        double a = Math.Abs(v);
        int dec = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
        return v.ToString("F" + Math.Min(dec, Math.Max(maxDecimals, 0)), Ci);
    }

    /// <summary>"12.3 (11.9–12.6)": the figure and its spread over the measured iterations.</summary>
    public static string WithSpread(double v, double low, double high, int maxDecimals = 2)
    {
        if (!Known(v))
        {
            return Unknown;
        }
        if (!Known(low) || !Known(high))
        {
            return Num(v, maxDecimals);
        }
        return $"{Num(v, maxDecimals)} ({Num(low, maxDecimals)}–{Num(high, maxDecimals)})";
    }

    public static string Micros(double ns) => Known(ns) && ns > 0 ? Num(ns / 1000, 2) : Unknown;

    public static string MicrosWithSpread(double ns, double lowNs, double highNs) =>
        Known(ns) && ns > 0 ? WithSpread(ns / 1000, lowNs / 1000, highNs / 1000, 2) : Unknown;

    public static string Ratio(double r) => Known(r) && r > 0 ? "×" + r.ToString(r >= 10 ? "F1" : "F2", Ci) : Unknown;

    /// <summary>"12.3 (11.9–12.6)": a median and its confidence interval; the median alone
    /// with one round.</summary>
    public static string Interval(Statistics.MedianInterval m, int maxDecimals = 2) =>
        m.N == 0 ? Unknown : m.HasInterval ? WithSpread(m.Median, m.Low, m.High, maxDecimals) : Num(m.Median, maxDecimals);

    /// <summary>A per-round ratio for a table cell: "**×0.85** (0.80–0.90)"; "no significant
    /// difference (×0.98, 0.93–1.04)" when its interval contains 1; "same within 1 %" when
    /// it lies inside 0.99–1.01; no verdict with fewer than 5 rounds.</summary>
    public static string RatioCell(Statistics.PairedRatio? p)
    {
        if (p is not { } r || r.Ratio.N == 0)
        {
            return Unknown;
        }
        Statistics.MedianInterval m = r.Ratio;
        string range = m.HasInterval ? $"{RatioNum(m.Low)}–{RatioNum(m.High)}" : "one round";
        return r.Verdict switch
        {
            Statistics.RatioVerdict.NoSignificantDifference => $"no significant difference (×{RatioNum(m.Median)}, {range})",
            Statistics.RatioVerdict.Same => $"same within {Statistics.PairedRatio.Negligible * 100:0} % (×{RatioNum(m.Median)}, {range})",
            Statistics.RatioVerdict.Unknown => m.HasInterval ? $"×{RatioNum(m.Median)} ({range}; too few rounds to judge)" : $"×{RatioNum(m.Median)} ({range})",
            _ => $"**×{RatioNum(m.Median)}** ({range})",
        };
    }

    private static string RatioNum(double r) => Known(r) ? r.ToString(r >= 10 ? "F1" : "F2", Ci) : Unknown;

    /// <summary>A markdown table cell: pipes escaped.</summary>
    public static string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal);
}

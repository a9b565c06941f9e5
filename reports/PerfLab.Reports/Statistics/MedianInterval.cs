namespace PerfLab.Reports.Statistics;

/// <summary>
/// A median and its distribution-free confidence interval: two order statistics of the
/// sample, [x(k), x(n+1-k)], chosen from the binomial distribution (the interval the sign
/// test inverts). It assumes only that the rounds are independent draws of the same
/// quantity; no normality. Its coverage is exact but discrete: it is the largest k whose
/// coverage 1 - 2·P(Bin(n, ½) ≤ k-1) still reaches the target, so the real coverage is at
/// least the target, or, when even [min, max] cannot reach it (n ≤ 5 for 95 %), [min, max]
/// with its real coverage, which the report then prints (5 rounds: 93.8 %).
/// </summary>
public readonly record struct MedianInterval(double Median, double Low, double High, double Coverage, int N)
{
    public const double Target = 0.95;

    public static readonly MedianInterval Empty = new(double.NaN, double.NaN, double.NaN, 0, 0);

    public bool HasInterval => N >= 2 && !double.IsNaN(Low);

    /// <summary>The interval reaches the target coverage (not just [min, max] of too few rounds).</summary>
    public bool ReachesTarget => Coverage >= Target - 1e-12;

    public bool Contains(double v) => HasInterval && Low <= v && v <= High;

    /// <summary>Median and interval of the finite values; NaN and infinities are left out.</summary>
    public static MedianInterval Of(IEnumerable<double> values, double target = Target)
    {
        double[] x = values.Where(double.IsFinite).Order().ToArray();
        int n = x.Length;
        if (n == 0)
        {
            return Empty;
        }
        double median = n % 2 == 1 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
        if (n == 1)
        {
            return new MedianInterval(median, double.NaN, double.NaN, 0, 1);
        }
        int k = Rank(n, target);
        return new MedianInterval(median, x[k - 1], x[n - k], CoverageOf(n, k), n);
    }

    /// <summary>The 1-based rank k of the lower end: the largest k with coverage ≥ target,
    /// or 1 (min, max) when none reaches it.</summary>
    public static int Rank(int n, double target = Target)
    {
        int best = 1;
        for (int k = 1; k <= (n + 1) / 2; k++)
        {
            if (CoverageOf(n, k) >= target - 1e-12)
            {
                best = k;
            }
            else
            {
                break;
            }
        }
        return best;
    }

    /// <summary>P(x(k) ≤ median ≤ x(n+1-k)) = 1 - 2·P(Bin(n, ½) ≤ k-1), for a continuous quantity.</summary>
    public static double CoverageOf(int n, int k)
    {
        if (n < 2 || k < 1 || 2 * k > n + 1)
        {
            return 0;
        }
        double tail = 0;
        for (int i = 0; i < k; i++)
        {
            tail += Binomial(n, i);
        }
        return Math.Max(0, 1 - 2 * tail / Math.Pow(2, n));
    }

    private static double Binomial(int n, int k)
    {
        double c = 1;
        for (int i = 1; i <= k; i++)
        {
            c = c * (n - k + i) / i;
        }
        return c;
    }

    /// <summary>How the interval of <paramref name="n"/> rounds is formed, for the report:
    /// "x(2)–x(7) of 8, 93 %".</summary>
    public static string Describe(int n, double target = Target)
    {
        if (n < 2)
        {
            return n == 1 ? "one round: no interval" : "no rounds";
        }
        int k = Rank(n, target);
        string which = k == 1 ? "min–max" : $"the {Ordinal(k)} lowest to the {Ordinal(k)} highest";
        return $"{which} of {n} rounds, coverage {CoverageOf(n, k) * 100:0.#} %";
    }

    private static string Ordinal(int k) => k switch
    {
        1 => "1st",
        2 => "2nd",
        3 => "3rd",
        _ => $"{k}th",
    };
}

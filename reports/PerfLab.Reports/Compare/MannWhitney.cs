namespace PerfLab.Reports.Compare;

/// <summary>
/// The Mann-Whitney U test between two independent samples (two runs' rounds of one
/// configuration), exact: the null distribution of U is counted, not approximated, which is
/// what the few rounds of a run need (6 against 6: 924 arrangements). Ties count one half, and
/// the p-value is taken at the tie-free U just below, which only makes the test more cautious.
/// Also the distribution-free interval of the shift between the samples that the test inverts
/// (Moses): the k-th smallest and largest of the n·m pairwise differences.
/// </summary>
public static class MannWhitney
{
    /// <summary>Values closer than this (relative) are ties.</summary>
    private const double TieTolerance = 1e-12;

    /// <summary>U of "x above y": pairs with x greater, ties as one half.</summary>
    public static double U(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        double u = 0;
        foreach (double a in x)
        {
            foreach (double b in y)
            {
                if (Tied(a, b))
                {
                    u += 0.5;
                }
                else if (a > b)
                {
                    u += 1;
                }
            }
        }
        return u;
    }

    /// <summary>One-sided p-value of "x tends to lie above y": P(U ≥ observed) under the null.</summary>
    public static double PGreater(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        int n = x.Count, m = y.Count;
        if (n == 0 || m == 0)
        {
            return 1;
        }
        double[] cdf = Cdf(n, m);
        int u = (int)Math.Floor(U(x, y));
        return u <= 0 ? 1 : 1 - cdf[u - 1];
    }

    /// <summary>Two-sided p-value of "x and y differ in location".</summary>
    public static double PTwoSided(IReadOnlyList<double> x, IReadOnlyList<double> y) =>
        Math.Min(1, 2 * Math.Min(PGreater(x, y), PGreater(y, x)));

    /// <summary>The interval of the shift x − y at coverage 1 − 2α (both tails α), and its
    /// real coverage (below the target when the samples are too small for it: then the whole
    /// range of differences).</summary>
    public static (double Low, double High, double Coverage) ShiftInterval(IReadOnlyList<double> x, IReadOnlyList<double> y, double alpha)
    {
        int n = x.Count, m = y.Count;
        if (n == 0 || m == 0)
        {
            return (double.NaN, double.NaN, 0);
        }
        var d = new double[n * m];
        int i = 0;
        foreach (double a in x)
        {
            foreach (double b in y)
            {
                d[i++] = a - b;
            }
        }
        Array.Sort(d);
        double[] cdf = Cdf(n, m);
        // The largest k with P(U ≤ k − 1) ≤ α: [d(k), d(nm + 1 − k)] then covers at least 1 − 2α.
        int k = 0;
        while (k < n * m / 2 && cdf[k] <= alpha + 1e-12)
        {
            k++;
        }
        if (k == 0)
        {
            double tail = cdf[0];
            return (d[0], d[^1], Math.Max(0, 1 - 2 * tail));
        }
        double coverage = 1 - 2 * (k >= 1 ? cdf[k - 1] : 0);
        return (d[k - 1], d[n * m - k], coverage);
    }

    /// <summary>P(U ≤ u) for u = 0..n·m under the null (every arrangement equally likely),
    /// counted with the recurrence f(n, m, u) = f(n − 1, m, u − m) + f(n, m − 1, u).</summary>
    public static double[] Cdf(int n, int m)
    {
        int max = n * m;
        // counts[a][b][u] built up over a; keep only the m + 1 columns of the current a.
        var prev = new double[m + 1][];
        for (int b = 0; b <= m; b++)
        {
            prev[b] = new double[max + 1];
            prev[b][0] = 1; // a = 0: U is 0 whatever b
        }
        for (int a = 1; a <= n; a++)
        {
            var cur = new double[m + 1][];
            cur[0] = new double[max + 1];
            cur[0][0] = 1; // b = 0: U is 0
            for (int b = 1; b <= m; b++)
            {
                cur[b] = new double[max + 1];
                for (int u = 0; u <= a * b; u++)
                {
                    // The largest of the a + b values is an x (adds b to U) or a y (adds nothing).
                    cur[b][u] = (u >= b ? prev[b][u - b] : 0) + cur[b - 1][u];
                }
            }
            prev = cur;
        }
        double[] counts = prev[m];
        double total = counts.Sum();
        var cdf = new double[max + 1];
        double run = 0;
        for (int u = 0; u <= max; u++)
        {
            run += counts[u];
            cdf[u] = run / total;
        }
        return cdf;
    }

    private static bool Tied(double a, double b) => Math.Abs(a - b) <= TieTolerance * Math.Max(Math.Abs(a), Math.Abs(b));
}

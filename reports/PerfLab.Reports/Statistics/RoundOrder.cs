namespace PerfLab.Reports.Statistics;

/// <summary>
/// The order in which a round visits the configurations. Every round visits each one once;
/// rotation moves every configuration one place earlier each round, so that a drift of the
/// host during a round is not always charged to the same configuration, and over n rounds
/// each configuration opens one round. A shuffle (seeded, so a run can be replayed) also
/// breaks the fixed neighbour pairs of a rotation.
/// </summary>
public static class RoundOrder
{
    /// <summary>Round <paramref name="round"/> (1-based) of a rotation.</summary>
    public static IReadOnlyList<T> Rotated<T>(IReadOnlyList<T> items, int round)
    {
        int n = items.Count;
        if (n == 0)
        {
            return [];
        }
        int shift = (((round - 1) % n) + n) % n;
        var order = new T[n];
        for (int i = 0; i < n; i++)
        {
            order[i] = items[(i + shift) % n];
        }
        return order;
    }

    /// <summary>Round <paramref name="round"/> of a seeded shuffle (Fisher–Yates).</summary>
    public static IReadOnlyList<T> Shuffled<T>(IReadOnlyList<T> items, int round, int seed)
    {
        var order = items.ToArray();
        var rng = new Random(HashCode.Combine(seed, round));
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}

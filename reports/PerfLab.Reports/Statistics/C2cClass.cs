namespace PerfLab.Reports.Statistics;

/// <summary>
/// Classes of the CPU0↔CPU1 cache-line round trip. On a shared VM the host places the two
/// vCPUs near (one core complex: about 55 ns) or far apart (about 330-460 ns), and moves them
/// within seconds; every cross-core figure moves with it, by up to 4x. Rounds of one run are
/// compared only within a class: a round whose class is not the run's usual one is flagged.
/// </summary>
public static class C2cClass
{
    public const string Near = "near";
    public const string Mid = "mid";
    public const string Far = "far";
    public const string Unknown = "unknown";

    /// <summary>Upper end of "near" and lower end of "far", in ns.</summary>
    public const double NearMaxNs = 150;
    public const double FarMinNs = 250;

    public static string Of(double ns) =>
        !double.IsFinite(ns) || ns <= 0 ? Unknown
        : ns <= NearMaxNs ? Near
        : ns >= FarMinNs ? Far
        : Mid;

    /// <summary>The class most rounds share (ties: the nearer one); unknown without rounds.</summary>
    public static string Majority(IEnumerable<string> classes)
    {
        string[] order = [Near, Mid, Far];
        return classes.Where(c => c != Unknown).GroupBy(c => c)
            .OrderByDescending(g => g.Count()).ThenBy(g => Array.IndexOf(order, g.Key))
            .Select(g => g.Key).FirstOrDefault() ?? Unknown;
    }
}

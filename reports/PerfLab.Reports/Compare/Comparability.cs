using PerfLab.Reports.Model;

namespace PerfLab.Reports.Compare;

/// <summary>
/// Whether two runs may be compared at all: the same host, the same CPU model and the same
/// cache-line round-trip class (every cross-core figure moves with the vCPUs' placement, by up to
/// 4x, so runs of different classes differ whatever the change). A fact one run lacks cannot be
/// checked: it is reported, not refused.
/// </summary>
public static class Comparability
{
    /// <summary>One fact both runs should share.</summary>
    public sealed record Check(string What, string? Base, string? Candidate)
    {
        public bool Known => !string.IsNullOrEmpty(Base) && !string.IsNullOrEmpty(Candidate) && Base != Statistics.C2cClass.Unknown && Candidate != Statistics.C2cClass.Unknown;
        public bool Differs => Known && Base != Candidate;
    }

    public static List<Check> Checks(Report b, Report c) =>
    [
        new("host", b.Run[RunInfo.Host], c.Run[RunInfo.Host]),
        new("CPU model", b.Run[RunInfo.CpuModel], c.Run[RunInfo.CpuModel]),
        new("c2c class", Summaries.C2cClassOf(b), Summaries.C2cClassOf(c)),
    ];

    /// <summary>Why the runs must not be compared, or null: "different host (a vs b); ...".</summary>
    public static string? Refusal(IEnumerable<Check> checks)
    {
        var differs = checks.Where(x => x.Differs).Select(x => $"different {x.What} ({x.Base} vs {x.Candidate})").ToList();
        return differs.Count == 0 ? null : string.Join("; ", differs);
    }
}

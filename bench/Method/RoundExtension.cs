using PerfLab.Reports.Model;

namespace PerfLab.Bench.Method;

/// <summary>
/// Whether a run needs another round: the host moves the vCPUs for seconds at a time, and a
/// visit it moved is left out (<see cref="Summaries.Moved"/>), so a run of the planned rounds
/// can end with too few kept rounds to rank anything. After the planned rounds, the runner
/// adds rounds, up to the profile's maximum, while a configuration has fewer than the wanted
/// rounds kept, by the report's own rule (<see cref="Summaries.ShortOfKept"/>).
/// </summary>
public static class RoundExtension
{
    /// <summary>The first configuration short of <paramref name="wanted"/> kept rounds, as
    /// "hybrid-64 ÷ busy-64: 3 of 5 rounds kept", or null when every one has enough.</summary>
    public static string? Short(IReadOnlyList<RoundInfo> rounds, IReadOnlyList<RoundSample> samples,
        IEnumerable<(string Id, string Reference)> configs, int wanted) =>
        Summaries.ShortOfKept(rounds, samples, configs, wanted);
}

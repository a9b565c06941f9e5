using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Bench.Method;

/// <summary>
/// Whether a run needs another round: the host moves the vCPUs for seconds at a time, and a
/// visit it moved is left out (<see cref="Summaries.Moved"/>), so a run of the planned rounds
/// can end with too few kept rounds to rank anything ("cannot rank"). After the planned
/// rounds, the runner adds rounds, up to the profile's maximum, while a configuration has
/// fewer than the wanted rounds kept: for a configuration with a reference, rounds where both
/// it and its reference were kept (its per-round ratios need both); for a reference, rounds
/// where it was. The same rules as the report's: rounds of the majority c2c class, visits
/// that did not move, a search that found a PDR. A configuration that never found a PDR
/// (it fails here) does not hold the run.
/// </summary>
public static class RoundExtension
{
    /// <summary>The first configuration short of <paramref name="wanted"/> kept rounds, as
    /// "hybrid-64 ÷ busy-64: 3 of 5 rounds kept", or null when every one has enough.</summary>
    public static string? Short(IReadOnlyList<RoundInfo> rounds, IReadOnlyList<RoundSample> samples,
        IEnumerable<(string Id, string Reference)> configs, int wanted)
    {
        string majority = C2cClass.Majority(rounds.Select(r => r.C2cClass));
        var used = rounds.Where(r => majority == C2cClass.Unknown || r.C2cClass == C2cClass.Unknown || r.C2cClass == majority)
            .Select(r => r.Round).ToHashSet();
        var found = samples.Where(s => double.IsFinite(s.Get(Metrics.PdrMpps))).Select(s => s.ConfigId).ToHashSet();
        var kept = samples.Where(s => used.Contains(s.Round) && !Summaries.Moved(s, majority) && double.IsFinite(s.Get(Metrics.PdrMpps)))
            .Select(s => (s.ConfigId, s.Round)).ToHashSet();
        foreach (var (id, reference) in configs)
        {
            if (!found.Contains(id) || (reference.Length > 0 && !found.Contains(reference)))
            {
                continue;
            }
            int n = used.Count(r => kept.Contains((id, r)) && (reference.Length == 0 || kept.Contains((reference, r))));
            if (n < wanted)
            {
                return $"{(reference.Length > 0 ? $"{id} ÷ {reference}" : id)}: {n} of {wanted} rounds kept";
            }
        }
        return null;
    }
}

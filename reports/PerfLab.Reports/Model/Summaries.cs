using PerfLab.Reports.Statistics;

namespace PerfLab.Reports.Model;

/// <summary>
/// The statistics of a report, in one place: which rounds count, each configuration's median
/// and interval per metric over them, and its per-round ratios to its reference. The
/// Markdown, the charts, summary.csv and compare all read these.
/// </summary>
public static class Summaries
{
    /// <summary>The rounds the medians use: every round not flagged for its c2c class (all of
    /// them if every round is flagged, which cannot happen with a majority class).</summary>
    public static HashSet<int> UsedRounds(Report r)
    {
        var used = r.Rounds.Where(x => !x.Flagged).Select(x => x.Round).ToHashSet();
        if (used.Count == 0)
        {
            used = r.Samples.Select(s => s.Round).ToHashSet();
        }
        return used;
    }

    /// <summary>round → value of one metric of one configuration, used rounds only, and none
    /// of a visit whose placement moved (<see cref="Moved"/>).</summary>
    public static Dictionary<int, double> ByRound(Report r, string configId, string metric, HashSet<int>? used = null)
    {
        used ??= UsedRounds(r);
        // A majority over the run's rounds (a dozen): nothing beside the loop over the samples.
        string majority = C2cClassOf(r);
        var d = new Dictionary<int, double>();
        foreach (RoundSample s in r.Samples)
        {
            if (s.ConfigId == configId && used.Contains(s.Round) && !Moved(s, majority) && s.Values.TryGetValue(metric, out double v) && double.IsFinite(v))
            {
                d[s.Round] = v;
            }
        }
        return d;
    }

    public static MedianInterval Of(Report r, string configId, string metric, HashSet<int>? used = null) =>
        MedianInterval.Of(ByRound(r, configId, metric, used).Values);

    /// <summary>Per-round ratio of a metric to the same metric of the configuration's
    /// reference (at the same fraction of each one's own capacity when the metric has a load
    /// point); null when the configuration has no reference in this run.</summary>
    public static PairedRatio? VsReference(Report r, ConfigInfo c, string metric, HashSet<int>? used = null) =>
        VsReference(r, c.Id, c.Reference, metric, used);

    /// <summary>The same ratio to any configuration of the run (a script's journal may compare
    /// one configuration with several); null when <paramref name="referenceId"/> is not in it.</summary>
    public static PairedRatio? VsReference(Report r, string configId, string referenceId, string metric, HashSet<int>? used = null)
    {
        if (referenceId.Length == 0 || r.Config(referenceId) is null)
        {
            return null;
        }
        used ??= UsedRounds(r);
        return PairedRatio.Of(ByRound(r, configId, metric, used), ByRound(r, referenceId, metric, used));
    }

    /// <summary>Per-round ratio of QUANTITY@LOAD to the reference measured at this
    /// configuration's offered rate in the same round (ref_QUANTITY@LOAD).</summary>
    public static PairedRatio? VsReferenceSameRate(Report r, ConfigInfo c, string metric, HashSet<int>? used = null)
    {
        used ??= UsedRounds(r);
        var refs = ByRound(r, c.Id, Metrics.Ref(metric), used);
        return refs.Count == 0 ? null : PairedRatio.Of(ByRound(r, c.Id, metric, used), refs);
    }

    /// <summary>Every metric name present in a configuration's samples, in first-seen order.</summary>
    public static List<string> MetricsOf(Report r, string? configId = null)
    {
        var seen = new List<string>();
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (RoundSample s in r.Samples.Where(s => configId is null || s.ConfigId == configId))
        {
            foreach (string k in s.Values.Keys)
            {
                if (set.Add(k))
                {
                    seen.Add(k);
                }
            }
        }
        return seen;
    }

    /// <summary>The run's c2c range over its rounds, "55–340 ns", or null when not measured.</summary>
    public static string? C2cRange(Report r)
    {
        var v = r.Rounds.Select(x => x.C2cNs).Where(double.IsFinite).ToList();
        if (v.Count == 0)
        {
            return null;
        }
        return $"{v.Min():0}–{v.Max():0} ns";
    }

    /// <summary>The class most rounds share.</summary>
    public static string C2cClassOf(Report r) => Statistics.C2cClass.Majority(r.Rounds.Select(x => x.C2cClass));

    /// <summary>
    /// The host moved the vCPUs while this configuration was measured in this round: a probe
    /// next to one of its visits found a c2c class other than the run's (<paramref name="majority"/>).
    /// A round-start c2c misses a move inside the round, and a far stretch inside a visit makes
    /// both sides about three times slower (docs/method.md, "The placement inside a point").
    /// Runs without the probes never count as moved.
    /// </summary>
    public static bool Moved(RoundSample s, string majority)
    {
        if (majority == Statistics.C2cClass.Unknown)
        {
            return false;
        }
        foreach (string m in (ReadOnlySpan<string>)[Metrics.VisitC2cMinNs, Metrics.VisitC2cMaxNs])
        {
            string c = Statistics.C2cClass.Of(s.Get(m));
            if (c != Statistics.C2cClass.Unknown && c != majority)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The samples of used rounds left out because their placement moved.</summary>
    public static List<RoundSample> MovedSamples(Report r)
    {
        var used = UsedRounds(r);
        string majority = C2cClassOf(r);
        return [.. r.Samples.Where(s => used.Contains(s.Round) && Moved(s, majority))];
    }

    /// <summary>
    /// The first configuration with fewer than <paramref name="wanted"/> rounds kept, as
    /// "hybrid-64 ÷ busy-64: 3 of 5 rounds kept", or null when every one has enough. Kept is
    /// what the medians use: a round of the majority c2c class, a visit that did not move, a
    /// search that found a PDR; for a configuration with a reference, both in the same round
    /// (its per-round ratios need both). A configuration that never found a PDR (it failed
    /// here) is not counted. The bench adds rounds while this is not null; report.md says the
    /// run cannot rank while it is not.
    /// </summary>
    public static string? ShortOfKept(IReadOnlyList<RoundInfo> rounds, IReadOnlyList<RoundSample> samples,
        IEnumerable<(string Id, string Reference)> configs, int wanted)
    {
        string majority = Statistics.C2cClass.Majority(rounds.Select(r => r.C2cClass));
        var used = rounds.Where(r => majority == Statistics.C2cClass.Unknown || r.C2cClass == Statistics.C2cClass.Unknown || r.C2cClass == majority)
            .Select(r => r.Round).ToHashSet();
        var found = samples.Where(s => double.IsFinite(s.Get(Metrics.PdrMpps))).Select(s => s.ConfigId).ToHashSet();
        var kept = samples.Where(s => used.Contains(s.Round) && !Moved(s, majority) && double.IsFinite(s.Get(Metrics.PdrMpps)))
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

    /// <summary>Kept rounds a configuration needs for the report to judge its ratios.</summary>
    public const int KeptRoundsForAVerdict = 5;

    /// <summary>Marks the rounds whose c2c class is not the run's majority class.</summary>
    public static void FlagRounds(List<RoundInfo> rounds)
    {
        string majority = Statistics.C2cClass.Majority(rounds.Select(x => x.C2cClass));
        foreach (RoundInfo x in rounds)
        {
            x.Flagged = majority != Statistics.C2cClass.Unknown && x.C2cClass != Statistics.C2cClass.Unknown && x.C2cClass != majority;
        }
    }
}

using HdrHistogram;
using PerfLab.Bench.Method.Trials;
using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;

namespace PerfLab.Bench.Method;

/// <summary>
/// The end-to-end part of a run, in interleaved rounds. Each round measures the cache-line
/// round trip first, then visits every configuration once, in an order rotated from round to
/// round: first every search (NDR and PDR), then every load-point visit at that round's PDRs
/// (so a reference can also run at its dependents' rates of the same round). A configuration
/// that fails in a round is logged and left empty for that round; the others go on. A short
/// c2c probe between visits (nothing of the bench runs then) records, per configuration and
/// round, the lowest and highest c2c next to its visits: a visit that ran while the host had
/// moved the vCPUs is left out of the medians (<see cref="Summaries.Moved"/>).
/// </summary>
public sealed class RoundRunner
{
    private readonly Profile _p;
    private readonly IReadOnlyList<BenchConfiguration> _configs;
    private readonly ITrialTargetFactory _factory;
    private readonly Func<double> _c2c;
    private readonly Func<double> _probe;
    private readonly Action<string> _log;
    private readonly Dictionary<string, List<(int Round, HistogramBase H)>> _spectra = [];

    /// <param name="c2c">Measures the cache-line round trip in ns (NaN: not measured).</param>
    /// <param name="probe">A short c2c taken between visits (NaN: not measured; default: none).</param>
    public RoundRunner(Profile p, IReadOnlyList<BenchConfiguration> configs, ITrialTargetFactory factory, Func<double> c2c, Action<string> log,
        Func<double>? probe = null)
    {
        _p = p;
        _configs = configs;
        _factory = factory;
        _c2c = c2c;
        _probe = probe ?? (() => double.NaN);
        _log = log;
    }

    public List<RoundInfo> Rounds { get; } = [];
    public List<RoundSample> Samples { get; } = [];
    public List<TrialRecord> Trials { get; } = [];
    public List<PercentilePoint> Percentiles { get; } = [];

    /// <summary>Why each round past the profile's planned ones was added, one line each.</summary>
    public List<string> Extensions { get; } = [];

    /// <summary>What went wrong, one line each (for the report).</summary>
    public List<string> Problems { get; } = [];

    public void Run()
    {
        var visits = new Visits(_p);
        int last = _p.Extends ? _p.MaxRounds : _p.Rounds;
        for (int round = 1; round <= last; round++)
        {
            if (round > _p.Rounds)
            {
                string? why = Summaries.ShortOfKept(Rounds, Samples, _configs.Select(c => (c.Id, c.Reference)), _p.KeptRoundsWanted);
                if (why is null)
                {
                    break;
                }
                _log($"round {round}: added, up to {_p.MaxRounds} ({why})");
                Extensions.Add(why);
            }
            var info = new RoundInfo { Round = round, StartedUtc = DateTime.UtcNow };
            info.C2cNs = _c2c();
            info.C2cClass = C2cClass.Of(info.C2cNs);
            var order = RoundOrder.Rotated(_configs, round);
            info.Order = string.Join(' ', order.Select(c => c.Id));
            Rounds.Add(info);
            _log($"round {round}/{Math.Max(round, _p.Rounds)}: c2c {info.C2cNs:F0} ns ({info.C2cClass}); order {info.Order}");
            var samples = new Dictionary<string, RoundSample>();
            for (int i = 0; i < order.Count; i++)
            {
                samples[order[i].Id] = new RoundSample { Round = round, ConfigId = order[i].Id, Position = i };
            }
            double before = _probe();
            foreach (BenchConfiguration c in order)
            {
                Visit(c, round, "search", t => visits.Search(t, c, round, samples[c.Id]));
                before = Probed(samples[c.Id], before);
                if (samples[c.Id].Values.TryGetValue(Metrics.PdrMpps, out double pdr))
                {
                    _log($"  {c.Id}: NDR {samples[c.Id].Get(Metrics.NdrMpps):F3} PDR {pdr:F3} Mpps ({samples[c.Id].Get(Metrics.SearchTrials):F0} trials, {samples[c.Id].Get(Metrics.SearchSeconds):F1} s)");
                }
            }
            foreach (BenchConfiguration c in order)
            {
                double pdr = samples[c.Id].Get(Metrics.PdrMpps) * 1e6;
                var dependents = _configs.Where(d => d.Reference == c.Id)
                    .Select(d => (d.Id, samples[d.Id], samples[d.Id].Get(Metrics.PdrMpps) * 1e6))
                    .Where(d => double.IsFinite(d.Item3)).ToList();
                Visit(c, round, "load points", t => visits.LoadPoints(t, c, round, samples[c.Id], double.IsFinite(pdr) ? pdr : 0, dependents,
                    (r, h) => Spectrum(c.Id, r, h)));
                before = Probed(samples[c.Id], before);
            }
            LogMoves(info, order.Select(c => samples[c.Id]));
            Samples.AddRange(order.Select(c => samples[c.Id]));
            Trials.AddRange(visits.Trials);
            visits.Trials.Clear();
        }
        Summaries.FlagRounds(Rounds);
        var used = Rounds.Where(r => !r.Flagged).Select(r => r.Round).ToHashSet();
        string majority = C2cClass.Majority(Rounds.Select(r => r.C2cClass));
        var moved = Samples.Where(s => Summaries.Moved(s, majority)).Select(s => (s.ConfigId, s.Round)).ToHashSet();
        foreach (var (id, list) in _spectra)
        {
            var merged = new LongHistogram(LoadGen.Guest.TrafficEngine.MaxLatencyNs, 3);
            foreach (var (r, h) in list.Where(x => used.Contains(x.Round) && !moved.Contains((id, x.Round))))
            {
                merged.Add(h);
            }
            Percentiles.AddRange(LoadPointMetrics.Ladder(id, Views.SpectrumLoad, merged));
        }
    }

    /// <summary>Takes the probe after a visit (the one before it is <paramref name="before"/>)
    /// and widens the sample's c2c range with both; returns the new probe, the next visit's
    /// "before".</summary>
    private double Probed(RoundSample s, double before)
    {
        double after = _probe();
        foreach (double ns in (ReadOnlySpan<double>)[before, after])
        {
            if (double.IsFinite(ns) && ns > 0)
            {
                double lo = s.Get(Metrics.VisitC2cMinNs), hi = s.Get(Metrics.VisitC2cMaxNs);
                s.Values[Metrics.VisitC2cMinNs] = double.IsFinite(lo) ? Math.Min(lo, ns) : ns;
                s.Values[Metrics.VisitC2cMaxNs] = double.IsFinite(hi) ? Math.Max(hi, ns) : ns;
            }
        }
        return after;
    }

    /// <summary>Logs the configurations whose visits saw another c2c class than the round's start.</summary>
    private void LogMoves(RoundInfo info, IEnumerable<RoundSample> samples)
    {
        var moved = samples.Where(s => Summaries.Moved(s, info.C2cClass))
            .Select(s => $"{s.ConfigId} ({s.Get(Metrics.VisitC2cMinNs):F0}-{s.Get(Metrics.VisitC2cMaxNs):F0} ns)").ToList();
        if (moved.Count > 0)
        {
            _log($"  the placement moved during: {string.Join(", ", moved)}");
        }
    }

    private void Spectrum(string id, int round, HistogramBase h)
    {
        if (!_spectra.TryGetValue(id, out var list))
        {
            _spectra[id] = list = [];
        }
        list.Add((round, h));
    }

    private void Visit(BenchConfiguration c, int round, string what, Action<ITrialTarget> body)
    {
        try
        {
            using ITrialTarget t = _factory.Open(c);
            body(t);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or TimeoutException or ArgumentException or UnauthorizedAccessException)
        {
            string line = $"round {round}, {c.Id}, {what}: {e.Message}";
            Problems.Add(line);
            _log("  FAILED " + line);
        }
    }
}

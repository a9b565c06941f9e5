using HdrHistogram;
using PerfLab.Bench.Method.Search;
using PerfLab.Bench.Method.Trials;
using PerfLab.Reports.Model;

namespace PerfLab.Bench.Method;

/// <summary>
/// A configuration's two visits in a round. The search visit: a discarded warm-up at the
/// generator's maximum, then MLRsearch for NDR and PDR from twice the warm-up's forwarding
/// rate down. The load-point visit (after every configuration has searched in this round):
/// a short warm-up, one frame in flight, then 10, 50 and 90 % of this round's PDR; a
/// reference also runs at each dependent configuration's rates, so that they are compared
/// at the same offered rate in the same round.
/// </summary>
public sealed class Visits
{
    private readonly Profile _p;

    public Visits(Profile p) => _p = p;

    /// <summary>Trials of the current round, for trials.csv.</summary>
    public List<TrialRecord> Trials { get; } = [];

    private void Record(int round, string config, string kind, string point, TrialOutcome o) => Trials.Add(new TrialRecord
    {
        Round = round,
        ConfigId = config,
        Kind = kind,
        Point = point,
        IntendedMpps = o.IntendedPps / 1e6,
        DurationS = o.DurationS,
        Offered = o.Offered,
        Received = o.Received,
        LossRatio = o.LossRatio,
        ForwardingMpps = o.ReceivedPps / 1e6,
        TxDropped = o.TxDropped,
        BackendDropped = o.BackendDropped,
        GeneratorLate = o.GeneratorShortfall,
    });

    public void Search(ITrialTarget t, BenchConfiguration c, int round, RoundSample s)
    {
        Profile p = _p.For(c);
        TrialOutcome warm = t.Run(0, p.WarmupS);
        Record(round, c.Id, "warmup", "", warm);
        double min = p.MinLoadMpps * 1e6;
        double max = Math.Max(min * 2, warm.ReceivedPps * p.MaxLoadFactor);
        s.Values[Metrics.WarmupMpps] = warm.ReceivedPps / 1e6;
        s.Values[Metrics.MaxLoadMpps] = max / 1e6;
        var measurer = new Measurer(t, o => Record(round, c.Id, "search", "", o));
        var search = new MlrSearch(measurer, p.Goals(), min, max, warmupS: 0) { TimeLimitS = Math.Max(60, 200 * p.DurationSumS) };
        SearchResult r = search.Run();
        Put(s, r.Of("NDR"), Metrics.NdrMpps, Metrics.NdrLowerMpps, Metrics.NdrUpperMpps, Metrics.NdrTrials, Metrics.NdrRegular, Metrics.NdrGbps, c);
        Put(s, r.Of("PDR"), Metrics.PdrMpps, Metrics.PdrLowerMpps, Metrics.PdrUpperMpps, Metrics.PdrTrials, Metrics.PdrRegular, Metrics.PdrGbps, c);
        s.Values[Metrics.SearchTrials] = r.Trials;
        s.Values[Metrics.SearchSeconds] = r.Seconds;
    }

    private static void Put(RoundSample s, GoalResult g, string ct, string lower, string upper, string trials, string regular, string gbps, BenchConfiguration c)
    {
        s.Values[ct] = g.ConditionalThroughputPps / 1e6;
        s.Values[lower] = g.LowerBoundPps / 1e6;
        s.Values[upper] = g.UpperBoundPps / 1e6;
        s.Values[trials] = g.Trials;
        s.Values[regular] = g.Regular ? 1 : 0;
        s.Values[gbps] = g.ConditionalThroughputPps * c.FrameSize * 8 / 1e9;
    }

    /// <summary>The load points at this round's PDR (<paramref name="pdrPps"/>), and the
    /// dependents' rates when this is their reference. Histograms at <see cref="Views.SpectrumLoad"/>
    /// go to <paramref name="spectrum"/>.</summary>
    public void LoadPoints(ITrialTarget t, BenchConfiguration c, int round, RoundSample s, double pdrPps,
        IReadOnlyList<(string Id, RoundSample Sample, double PdrPps)> dependents, Action<int, HistogramBase> spectrum)
    {
        Profile p = _p.For(c);
        if (pdrPps > 0 && p.WarmupS > 0)
        {
            t.Run(pdrPps * 0.5, p.WarmupS); // wakes and warms this process' path; discarded
        }
        TrialOutcome floor = t.PingPong(p.LoadPointS);
        Record(round, c.Id, "load", "0", floor);
        LoadPointMetrics.Add(s, "", 0, floor);
        if (pdrPps > 0)
        {
            foreach (int load in Metrics.SameRatePoints)
            {
                TrialOutcome o = t.Run(pdrPps * load / 100, p.LoadPointS);
                Record(round, c.Id, "load", load.ToString(System.Globalization.CultureInfo.InvariantCulture), o);
                LoadPointMetrics.Add(s, "", load, o);
                if (load == Views.SpectrumLoad && o.Latency is { } h)
                {
                    spectrum(round, h);
                }
            }
        }
        foreach (var (id, sample, pdr) in dependents.Where(d => d.PdrPps > 0))
        {
            foreach (int load in Metrics.SameRatePoints)
            {
                TrialOutcome o = t.Run(pdr * load / 100, p.LoadPointS);
                Record(round, c.Id, "load", $"{id}@{load}", o);
                LoadPointMetrics.Add(sample, Metrics.RefPrefix, load, o);
            }
        }
    }

    private sealed class Measurer(ITrialTarget target, Action<TrialOutcome> record) : ISearchMeasurer
    {
        public SearchTrial Measure(double loadPps, double durationS)
        {
            TrialOutcome o = target.Run(loadPps, durationS);
            record(o);
            return new SearchTrial(loadPps, durationS, o.DurationS > 0 ? o.DurationS : durationS, o.LossRatio);
        }
    }
}

using System.Diagnostics;

namespace PerfLab.Bench.Method.Search;

/// <summary>The outcome for one goal (RFC 9971 §"Goal Results").</summary>
/// <param name="ConditionalThroughputPps">At the relevant lower bound (0 when even the minimum
/// load is an upper bound: nothing was found to hold).</param>
/// <param name="LowerBoundPps">Relevant lower bound, NaN when none.</param>
/// <param name="UpperBoundPps">Relevant upper bound, NaN when none (the maximum load held).</param>
/// <param name="Regular">Both bounds exist and are within the goal width.</param>
/// <param name="Trials">Trials measured (the warm-up excluded) until this goal was settled.</param>
public sealed record GoalResult(SearchGoal Goal, double ConditionalThroughputPps, double LowerBoundPps, double UpperBoundPps, bool Regular, int Trials);

/// <summary>The outcome of a whole search.</summary>
public sealed record SearchResult(IReadOnlyList<GoalResult> Goals, int Trials, double Seconds, bool TimedOut)
{
    public GoalResult Of(string goalName) => Goals.First(g => g.Goal.Name == goalName);
}

/// <summary>
/// The MLRsearch controller (RFC 9971). A warm-up trial at the maximum load (discarded), a
/// trial at the maximum, then one at the rate it forwarded (corrected for the first goal's
/// loss ratio: the usual first guess), then, goal by goal (the smallest loss ratio first),
/// target by target (coarse to final), it measures until the goal's relevant bounds are
/// within the target's width: again at a load still undecided between the bounds; upward or
/// downward by a step that grows by the expansion coefficient while a bound is missing; else
/// at the geometric middle of the bounds. Trials at any load count for every goal (each
/// classifies them with its own loss ratio), which is where the multiple-goal search saves
/// time. Loads never leave [min, max].
/// </summary>
public sealed class MlrSearch
{
    private readonly Dictionary<double, List<SearchTrial>> _db = [];
    private readonly ISearchMeasurer _measurer;
    private int _trials;

    public MlrSearch(ISearchMeasurer measurer, IReadOnlyList<SearchGoal> goals, double minLoadPps, double maxLoadPps, double warmupS)
    {
        _measurer = measurer;
        Goals = goals;
        MinLoad = minLoadPps;
        MaxLoad = maxLoadPps;
        WarmupS = warmupS;
    }

    public IReadOnlyList<SearchGoal> Goals { get; }
    public double MinLoad { get; }
    public double MaxLoad { get; }
    public double WarmupS { get; }

    /// <summary>A search that has not finished by then stops and reports what it has (irregular).</summary>
    public double TimeLimitS { get; init; } = 600;

    /// <summary>Safety net against a measurer that never settles.</summary>
    public int MaxTrials { get; init; } = 1000;

    /// <summary>Every trial after the warm-up, in order.</summary>
    public List<SearchTrial> Log { get; } = [];

    /// <summary>Why the arguments cannot be searched, or null.</summary>
    public static string? Invalid(IReadOnlyList<SearchGoal> goals, double minLoadPps, double maxLoadPps) =>
        goals.Count == 0 ? "no search goal"
        : goals.Select(g => g.Invalid()).FirstOrDefault(e => e != null)
        ?? (!(minLoadPps > 0 && maxLoadPps > minLoadPps) ? $"need 0 < min load < max load (min {minLoadPps}, max {maxLoadPps})" : null);

    public SearchResult Run()
    {
        if (Invalid(Goals, MinLoad, MaxLoad) is { } error)
        {
            throw new ArgumentException(error);
        }
        var clock = Stopwatch.StartNew();
        bool timedOut = false;
        if (WarmupS > 0)
        {
            _measurer.Measure(MaxLoad, WarmupS); // discarded: fills caches, wakes every thread
        }
        var ordered = Goals.OrderBy(g => g.LossRatio).ToList();
        SearchTarget first = ordered[0].Targets()[0];
        SearchTrial atMax = Measure(MaxLoad, first.TrialS);
        double guess = Clamp(atMax.ForwardingPps / (1 - ordered[0].LossRatio));
        if (guess < MaxLoad * (1 - first.Width))
        {
            Measure(guess, first.TrialS);
        }
        var settled = new Dictionary<SearchGoal, int>();
        foreach (SearchGoal g in ordered)
        {
            foreach (SearchTarget t in g.Targets())
            {
                int expansions = 0;
                while (true)
                {
                    if (clock.Elapsed.TotalSeconds > TimeLimitS || _trials >= MaxTrials)
                    {
                        timedOut = true;
                        break;
                    }
                    double? next = NextLoad(t, ref expansions);
                    if (next is null)
                    {
                        break;
                    }
                    Measure(next.Value, t.TrialS);
                }
                if (timedOut)
                {
                    break;
                }
            }
            settled[g] = _trials;
            if (timedOut)
            {
                break;
            }
        }
        var results = Goals.Select(g => ResultOf(g, settled.TryGetValue(g, out int n) ? n : _trials, timedOut)).ToList();
        return new SearchResult(results, _trials, clock.Elapsed.TotalSeconds, timedOut);
    }

    private SearchTrial Measure(double load, double durationS)
    {
        SearchTrial r = _measurer.Measure(load, durationS);
        if (!_db.TryGetValue(load, out var list))
        {
            _db[load] = list = [];
        }
        var kept = r with { LoadPps = load, DurationS = durationS };
        list.Add(kept);
        Log.Add(kept);
        _trials++;
        return kept;
    }

    private double Clamp(double load) => double.IsFinite(load) ? Math.Clamp(load, MinLoad, MaxLoad) : MinLoad;

    /// <summary>The relevant bounds for a target: the smallest upper bound, and the largest
    /// lower bound below it.</summary>
    public (double? Lower, double? Upper) Bounds(SearchTarget t)
    {
        double? upper = null;
        foreach (var (load, trials) in _db)
        {
            if (LoadClassifier.Classify(trials, t) == LoadClass.UpperBound && (upper is null || load < upper))
            {
                upper = load;
            }
        }
        double? lower = null;
        foreach (var (load, trials) in _db)
        {
            if ((upper is null || load < upper) && LoadClassifier.Classify(trials, t) == LoadClass.LowerBound && (lower is null || load > lower))
            {
                lower = load;
            }
        }
        return (lower, upper);
    }

    private double? NextLoad(SearchTarget t, ref int expansions)
    {
        var (lower, upper) = Bounds(t);
        // A load between the bounds that its trials have not decided yet: measure it again.
        double lo = lower ?? double.NegativeInfinity;
        double hi = upper ?? double.PositiveInfinity;
        double? undecided = _db.Where(kv => kv.Key > lo && kv.Key < hi && LoadClassifier.Classify(kv.Value, t) == LoadClass.Undecided)
            .Select(kv => (double?)kv.Key).OrderBy(k => k).FirstOrDefault();
        if (undecided is { } u)
        {
            return u;
        }
        if (upper is null && lower is null)
        {
            return MaxLoad;
        }
        if (upper is null)
        {
            if (lower >= MaxLoad)
            {
                return null; // the maximum holds: no upper bound to find (irregular)
            }
            double step = t.Width * Math.Pow(t.Goal.ExpansionCoefficient, expansions++);
            return Math.Min(MaxLoad, lower!.Value / (1 - Math.Min(step, 0.9)));
        }
        if (lower is null)
        {
            if (upper <= MinLoad)
            {
                return null; // even the minimum fails (irregular)
            }
            double step = t.Width * Math.Pow(t.Goal.ExpansionCoefficient, expansions++);
            return Math.Max(MinLoad, upper!.Value * (1 - Math.Min(step, 0.9)));
        }
        expansions = 0;
        if (Width(lower.Value, upper.Value) <= t.Width)
        {
            return null;
        }
        double mid = Math.Sqrt(lower.Value * upper.Value);
        return mid > lower && mid < upper ? mid : null;
    }

    /// <summary>Relative width of an interval: (upper - lower) / upper.</summary>
    public static double Width(double lower, double upper) => (upper - lower) / upper;

    private GoalResult ResultOf(SearchGoal g, int trials, bool timedOut)
    {
        SearchTarget final = g.Targets()[^1];
        var (lower, upper) = Bounds(final);
        double ct = lower is { } l ? LoadClassifier.ConditionalThroughput(l, _db[l], final) : 0;
        bool regular = !timedOut && lower is { } a && upper is { } b && Width(a, b) <= g.Width + 1e-12;
        return new GoalResult(g, ct, lower ?? double.NaN, upper ?? double.NaN, regular, trials);
    }
}

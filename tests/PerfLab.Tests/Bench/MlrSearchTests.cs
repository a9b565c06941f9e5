using PerfLab.Bench.Method.Search;
using Xunit;

namespace PerfLab.Tests.Bench;

/// <summary>A device with a known loss curve: no loss up to its NDR, loss rising linearly to
/// exactly 0.5 % at its PDR, then everything above it lost; each trial's capacity jitters by
/// ±<c>noise</c> (seeded).</summary>
public sealed class SimulatedDevice(double ndrPps, double pdrPps, double noise = 0, int seed = 1) : ISearchMeasurer
{
    private readonly Random _rng = new(seed);

    public int Trials { get; private set; }

    public SearchTrial Measure(double loadPps, double durationS)
    {
        Trials++;
        double k = 1 + (_rng.NextDouble() * 2 - 1) * noise;
        double n = ndrPps * k, p = pdrPps * k;
        double loss = loadPps <= n ? 0
            : loadPps <= p ? 0.005 * (loadPps - n) / (p - n)
            : 0.005 + (loadPps - p) / loadPps;
        return new SearchTrial(loadPps, durationS, durationS, loss);
    }
}

/// <summary>Between A and B every other trial at a load loses frames (the first does); above B
/// every trial does. With exceed ratio 0.5 the loads up to B hold; with 0, only up to A.</summary>
public sealed class AlternatingDevice(double a, double b) : ISearchMeasurer
{
    private readonly Dictionary<double, int> _count = [];

    public SearchTrial Measure(double loadPps, double durationS)
    {
        int k = _count.GetValueOrDefault(loadPps);
        _count[loadPps] = k + 1;
        double loss = loadPps <= a ? 0 : loadPps <= b ? (k % 2 == 0 ? 0.01 : 0) : 0.05;
        return new SearchTrial(loadPps, durationS, durationS, loss);
    }
}

public sealed class MlrSearchTests
{
    private static SearchGoal[] Goals(double exceed = 0.5, double width = 0.005, double initial = 0.05, double final = 0.1, double sum = 0.2, int preceding = 1) =>
    [
        new() { Name = "NDR", LossRatio = 0, ExceedRatio = exceed, Width = width, InitialTrialS = initial, FinalTrialS = final, DurationSumS = sum, PrecedingTargets = preceding },
        new() { Name = "PDR", LossRatio = 0.005, ExceedRatio = exceed, Width = width, InitialTrialS = initial, FinalTrialS = final, DurationSumS = sum, PrecedingTargets = preceding },
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void FindsNdrAndPdrWithinTheGoalWidthAndStops(int seed)
    {
        const double Ndr = 7.3e6, Pdr = 9.1e6;
        var device = new SimulatedDevice(Ndr, Pdr, noise: 0, seed);
        var search = new MlrSearch(device, Goals(), minLoadPps: 1e4, maxLoadPps: 25e6 * seed, warmupS: 0.1);
        SearchResult r = search.Run();

        Assert.False(r.TimedOut);
        GoalResult ndr = r.Of("NDR"), pdr = r.Of("PDR");
        Assert.True(ndr.Regular && pdr.Regular);
        // The relevant bounds bracket the true value and lie within the goal width.
        Assert.InRange(Ndr, ndr.LowerBoundPps, ndr.UpperBoundPps);
        Assert.True(MlrSearch.Width(ndr.LowerBoundPps, ndr.UpperBoundPps) <= 0.005);
        Assert.InRange(ndr.ConditionalThroughputPps, Ndr * (1 - 0.005), Ndr);
        Assert.InRange(Pdr, pdr.LowerBoundPps, pdr.UpperBoundPps);
        // PDR's conditional throughput discounts the (at most 0.5 %) loss at its lower bound.
        Assert.InRange(pdr.ConditionalThroughputPps, Pdr * (1 - 0.005) * (1 - 0.005), Pdr);
        Assert.True(ndr.Trials <= pdr.Trials && pdr.Trials == r.Trials);
        Assert.InRange(r.Trials, 5, 80);
        // The warm-up is not part of the search's trials.
        Assert.Equal(r.Trials + 1, device.Trials);
    }

    [Fact]
    public void WithNoiseItStillLandsWithinTheWidthPlusTheNoise()
    {
        const double Ndr = 4e6, Pdr = 5e6;
        SearchResult r = new MlrSearch(new SimulatedDevice(Ndr, Pdr, noise: 0.002, seed: 42), Goals(), 1e4, 20e6, 0).Run();
        Assert.False(r.TimedOut);
        Assert.InRange(r.Of("NDR").ConditionalThroughputPps, Ndr * (1 - 0.005 - 0.002), Ndr * 1.002);
        Assert.InRange(r.Of("PDR").ConditionalThroughputPps, Pdr * (1 - 0.01 - 0.002), Pdr * 1.002);
    }

    [Fact]
    public void RespectsTheExceedRatio()
    {
        const double A = 3e6, B = 6e6;
        GoalResult half = new MlrSearch(new AlternatingDevice(A, B), Goals(exceed: 0.5, preceding: 0, initial: 0.1), 1e4, 20e6, 0).Run().Of("NDR");
        // Half of the trials lost frames between A and B: exceed ratio 0.5 tolerates it.
        Assert.InRange(half.LowerBoundPps, B * (1 - 0.005), B);
        GoalResult none = new MlrSearch(new AlternatingDevice(A, B), Goals(exceed: 0, preceding: 0, initial: 0.1), 1e4, 20e6, 0).Run().Of("NDR");
        Assert.InRange(none.LowerBoundPps, A * (1 - 0.005), A);
    }

    [Fact]
    public void ClassifiesLoadsAsTheRfcCodeDoes()
    {
        var goal = new SearchGoal { Name = "g", LossRatio = 0, ExceedRatio = 0.5, FinalTrialS = 1, DurationSumS = 3, InitialTrialS = 1, PrecedingTargets = 0 };
        SearchTarget t = goal.Targets().Single();
        SearchTrial Good(double d = 1) => new(1e6, d, d, 0);
        SearchTrial Bad(double d = 1) => new(1e6, d, d, 0.01);
        Assert.Equal(LoadClass.Undecided, LoadClassifier.Classify([], t));
        Assert.Equal(LoadClass.Undecided, LoadClassifier.Classify([Good()], t));
        Assert.Equal(LoadClass.LowerBound, LoadClassifier.Classify([Good(), Good()], t));
        Assert.Equal(LoadClass.LowerBound, LoadClassifier.Classify([Good(), Bad(), Good()], t));
        Assert.Equal(LoadClass.UpperBound, LoadClassifier.Classify([Bad(), Bad()], t));
        // Short trials: their high-loss time counts only beyond what their low-loss time balances.
        Assert.Equal(LoadClass.Undecided, LoadClassifier.Classify([Bad(0.5), Good(0.5)], t));
        Assert.Equal(LoadClass.UpperBound, LoadClassifier.Classify([Bad(0.5), Bad(0.5), Bad(0.5), Bad(0.5)], t));

        // Conditional throughput: the loss at the exceed-ratio quantile of the full-length trials.
        var pdr = goal with { LossRatio = 0.005 };
        SearchTarget tp = pdr.Targets().Single();
        double ct = LoadClassifier.ConditionalThroughput(1e6, [new(1e6, 1, 1, 0.001), new(1e6, 1, 1, 0.004), new(1e6, 1, 1, 0.002)], tp);
        Assert.Equal(1e6 * (1 - 0.002), ct, 3);
    }

    [Fact]
    public void ADeviceThatLosesEvenAtTheMinimumGivesAnIrregularZero()
    {
        SearchResult r = new MlrSearch(new SimulatedDevice(0, 1, 0), Goals(), 1e4, 1e6, 0).Run();
        Assert.Equal(0, r.Of("NDR").ConditionalThroughputPps);
        Assert.False(r.Of("NDR").Regular);
        Assert.True(double.IsNaN(r.Of("NDR").LowerBoundPps));
    }

    [Fact]
    public void ADeviceFasterThanTheMaximumGivesTheMaximumWithoutAnUpperBound()
    {
        GoalResult r = new MlrSearch(new SimulatedDevice(1e9, 2e9), Goals(), 1e4, 5e6, 0).Run().Of("PDR");
        Assert.Equal(5e6, r.LowerBoundPps);
        Assert.True(double.IsNaN(r.UpperBoundPps));
        Assert.False(r.Regular);
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.0)]
    public void RefusesALossRatioOutsideZeroToOne(double loss)
    {
        var goals = new[] { new SearchGoal { Name = "x", LossRatio = loss } };
        Assert.Contains("loss ratio", MlrSearch.Invalid(goals, 1, 2));
        Assert.Throws<ArgumentException>(() => new MlrSearch(new SimulatedDevice(1, 2), goals, 1, 2, 0).Run());
    }
}

using PerfLab.Reports.Model;
using PerfLab.Reports.Statistics;
using Xunit;

namespace PerfLab.Tests.Reports;

public sealed class StatisticsTests
{
    [Theory]
    [InlineData(5, 1, 0.9375)]
    [InlineData(6, 1, 0.96875)]
    [InlineData(8, 2, 0.9296875)]
    [InlineData(10, 2, 0.978515625)]
    public void CoverageOfOrderStatisticsIsBinomial(int n, int k, double expected) =>
        Assert.Equal(expected, MedianInterval.CoverageOf(n, k), 9);

    [Theory]
    [InlineData(5, 1)] // cannot reach 95 %: min-max
    [InlineData(6, 1)]
    [InlineData(9, 2)]
    [InlineData(12, 3)]
    [InlineData(20, 6)]
    public void PicksTheNarrowestIntervalThatReachesTheTarget(int n, int k) => Assert.Equal(k, MedianInterval.Rank(n));

    [Fact]
    public void MedianAndIntervalOfKnownSamples()
    {
        MedianInterval m = MedianInterval.Of([5, 1, 4, 2, 3, double.NaN]);
        Assert.Equal((3.0, 1.0, 5.0, 5), (m.Median, m.Low, m.High, m.N));
        Assert.False(m.ReachesTarget);
        Assert.Equal(0.9375, m.Coverage, 9);

        MedianInterval e = MedianInterval.Of([10, 1, 9, 2, 8, 3, 7, 4, 6, 5, 11, 12]);
        Assert.Equal(6.5, e.Median);
        Assert.Equal((3.0, 10.0), (e.Low, e.High)); // x(3), x(10) of 12: 96.1 %
        Assert.True(e.ReachesTarget);

        Assert.False(MedianInterval.Of([4]).HasInterval);
        Assert.Equal(0, MedianInterval.Of([]).N);
    }

    [Fact]
    public void TheIntervalReallyCoversTheMedianAtLeastAsOftenAsItSays()
    {
        var rng = new Random(1234);
        foreach (int n in new[] { 5, 6, 9, 15 })
        {
            int covered = 0;
            const int Trials = 20_000;
            for (int t = 0; t < Trials; t++)
            {
                // A skewed distribution with a known median: exponential(1), median ln 2.
                var x = Enumerable.Range(0, n).Select(_ => -Math.Log(1 - rng.NextDouble())).ToList();
                if (MedianInterval.Of(x).Contains(Math.Log(2)))
                {
                    covered++;
                }
            }
            double expected = MedianInterval.CoverageOf(n, MedianInterval.Rank(n));
            Assert.InRange(covered / (double)Trials, expected - 0.01, expected + 0.01);
        }
    }

    [Fact]
    public void PerRoundRatiosPairTheRoundsAndJudgeOnlyOutsideTheNoise()
    {
        var a = new Dictionary<int, double> { [1] = 11, [2] = 22, [3] = 33, [4] = 44, [5] = 55, [6] = 66 };
        var b = new Dictionary<int, double> { [1] = 10, [2] = 20, [3] = 30, [4] = 40, [5] = 50, [6] = 60 };
        PairedRatio p = PairedRatio.Of(a, b);
        // The host doubled the level round to round, the ratio stayed at 1.1: per-round
        // ratios see it; the ratio of medians would too, but with a much wider interval.
        Assert.Equal(1.1, p.Ratio.Median, 9);
        Assert.Equal(RatioVerdict.Higher, p.Verdict);

        var noisy = new Dictionary<int, double> { [1] = 9.8, [2] = 20.6, [3] = 29.1, [4] = 41.5, [5] = 49.0, [6] = 61.0 };
        PairedRatio q = PairedRatio.Of(noisy, b);
        Assert.True(q.Ratio.Contains(1));
        Assert.Equal(RatioVerdict.NoSignificantDifference, q.Verdict);

        // A difference of a fraction of a percent, however consistent, is the same.
        var tiny = b.ToDictionary(kv => kv.Key, kv => kv.Value * (1.002 + kv.Key / 10000.0));
        Assert.Equal(RatioVerdict.Same, PairedRatio.Of(tiny, b).Verdict);
        // Two rounds: an interval that covers the median half the time judges nothing.
        var two = new Dictionary<int, double> { [1] = 15, [2] = 30 };
        Assert.Equal(RatioVerdict.Unknown, PairedRatio.Of(two, b).Verdict);

        var missing = new Dictionary<int, double> { [1] = 11, [9] = 99 };
        Assert.Equal(1, PairedRatio.Of(missing, b).Ratio.N);
        Assert.Equal(RatioVerdict.Unknown, PairedRatio.Of(missing, b).Verdict);
    }

    [Fact]
    public void RotationVisitsEveryItemOncePerRoundAndEachOpensOneRound()
    {
        string[] items = ["a", "b", "c", "d"];
        var openers = new List<string>();
        for (int r = 1; r <= 4; r++)
        {
            var order = RoundOrder.Rotated(items, r);
            Assert.Equal(items.Order(), order.Order());
            openers.Add(order[0]);
        }
        Assert.Equal(items, openers);
        Assert.Equal(["b", "c", "d", "a"], RoundOrder.Rotated(items, 2));
        Assert.Equal(RoundOrder.Rotated(items, 1), RoundOrder.Rotated(items, 5));

        var shuffled = RoundOrder.Shuffled(items, 3, seed: 7);
        Assert.Equal(items.Order(), shuffled.Order());
        Assert.Equal(shuffled, RoundOrder.Shuffled(items, 3, seed: 7));
    }

    [Fact]
    public void C2cClassesAndTheRoundThatMoved()
    {
        Assert.Equal(C2cClass.Near, C2cClass.Of(55));
        Assert.Equal(C2cClass.Mid, C2cClass.Of(184));
        Assert.Equal(C2cClass.Far, C2cClass.Of(460));
        Assert.Equal(C2cClass.Unknown, C2cClass.Of(double.NaN));
        Assert.Equal(C2cClass.Near, C2cClass.Majority([C2cClass.Near, C2cClass.Far, C2cClass.Near, C2cClass.Unknown]));
    }

    /// <summary>ByRound judges a visit's move against its own report's c2c class, whichever
    /// used-round set it is given.</summary>
    [Fact]
    public void ByRoundJudgesMovesByItsOwnReportsClass()
    {
        static Report Run(double c2c)
        {
            var r = new Report();
            for (int i = 1; i <= 3; i++)
            {
                r.Rounds.Add(new RoundInfo { Round = i, C2cNs = c2c, C2cClass = C2cClass.Of(c2c) });
                // Round 1's visit saw a far probe: moved in a near run, steady in a far one.
                double probe = i == 1 ? 340 : c2c;
                r.Samples.Add(new RoundSample { Round = i, ConfigId = "x", Values = { [Metrics.Mpps] = i, [Metrics.VisitC2cMinNs] = probe, [Metrics.VisitC2cMaxNs] = probe } });
            }
            return r;
        }
        Report near = Run(55), far = Run(340);
        HashSet<int> used = Summaries.UsedRounds(near);
        Assert.Equal(C2cClass.Near, Summaries.C2cClassOf(near));
        Assert.Equal([2, 3], Summaries.ByRound(near, "x", Metrics.Mpps, used).Keys.Order());
        Assert.Equal([2, 3], Summaries.ByRound(near, "x", Metrics.Mpps, Summaries.UsedRounds(far)).Keys.Order());
        Assert.Equal([2, 3], Summaries.ByRound(near, "x", Metrics.Mpps, [1, 2, 3]).Keys.Order());
        Assert.Equal([1, 2, 3], Summaries.ByRound(far, "x", Metrics.Mpps).Keys.Order());
    }
}

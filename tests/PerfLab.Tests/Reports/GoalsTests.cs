using PerfLab.Reports.Goals;
using PerfLab.Reports.Journal;
using PerfLab.Reports.Model;
using PerfLab.Tests.Infrastructure;
using Xunit;

namespace PerfLab.Tests.Reports;

/// <summary>An issue's goals checked on a journal's rounds: per-round ratios to a reference of
/// the same round, their median against the limit, rounds of another c2c class left out.</summary>
public sealed class GoalsTests
{
    [Fact]
    public void GoalsUsePerRoundRatiosAndTheMedianDecides()
    {
        using var tmp = new TempDir();
        string j = tmp.File("journal.csv");
        double[] c2c = [55, 340, 57, 58];
        double[] hybridShare = [0.95, 0.10, 0.85, 0.92]; // round 2 is far: left out
        for (int r = 1; r <= 4; r++)
        {
            double level = r == 2 ? 0.3 : 1 + r / 10.0; // the host moves the whole round
            RoundJournal.Append(j, [new JournalEntry(r, "", RoundJournal.C2cMetric, c2c[r - 1])]);
            RoundJournal.Append(j, [new JournalEntry(r, "busy/busy@100", Metrics.Mpps, 40 * level)]);
            RoundJournal.Append(j, [new JournalEntry(r, "hybrid/hybrid@100", Metrics.Mpps, 40 * level * hybridShare[r - 1])]);
            RoundJournal.Append(j, [new JournalEntry(r, "hybrid/hybrid@50", "delivered", 0.995)]);
        }
        Report report = RoundJournal.ToReport(RoundJournal.Read(j), new Dictionary<string, string>());
        var fast = Goal.Parse("unthrottled|hybrid/hybrid@100|busy/busy@100|mpps|>=|0.9").Evaluate(report);
        Assert.Equal(0.92, fast.Median, 9);
        Assert.Equal(0.85, fast.Min, 9);
        Assert.Equal((2, 3, GoalVerdict.Pass), (fast.RoundsMet, fast.Rounds, fast.Verdict));
        var strict = Goal.Parse("strict|hybrid/hybrid@100|busy/busy@100|mpps|>=|0.93").Evaluate(report);
        Assert.Equal(GoalVerdict.Fail, strict.Verdict);
        var delivered = Goal.Parse("delivered|hybrid/hybrid@50||delivered|>=|0.99").Evaluate(report);
        Assert.Equal(GoalVerdict.Pass, delivered.Verdict);
        var missing = Goal.Parse("cpu|hybrid/hybrid@50||be_cpu_pct|<=|20").Evaluate(report);
        Assert.Equal(GoalVerdict.NotMeasured, missing.Verdict);

        string md = GoalsMarkdown.Build(report, [fast, strict]);
        Assert.Contains("| unthrottled | mpps: hybrid/hybrid@100 ÷ busy/busy@100 | 0.92 | 0.85–0.95 | ≥ 0.9 | 2/3 | pass |", md);
        Assert.Contains("2: 340 ns (other c2c class, left out)", md);

        Assert.Equal(1, PerfLab.Reports.Cli.Program.Main(["goals", j, "--goal", "strict|hybrid/hybrid@100|busy/busy@100|mpps|>=|0.93"]));
        Assert.Equal(0, PerfLab.Reports.Cli.Program.Main(["goals", j, "--goal", "unthrottled|hybrid/hybrid@100|busy/busy@100|mpps|>=|0.9"]));
        Assert.Equal(2, PerfLab.Reports.Cli.Program.Main(["goals", j, "--goal", "bad|hybrid/hybrid@100|busy/busy@100|mpps|>|0.9"]));
        Assert.Equal(2, PerfLab.Reports.Cli.Program.Main(["goals", j, "--goal", "typo|hybrid/hybrid@10|busy/busy@100|mpps|>=|0.9"]));
    }

    [Fact]
    public void AGatedGoalCountsOnlyTheRoundsWhereItsGateMetTheLimitToo()
    {
        using var tmp = new TempDir();
        string j = tmp.File("journal.csv");
        // Round 2: the host's capacity fell below the load, and busy lost frames as well.
        double[] hybrid = [1.0, 0.65, 0.995, 0.97];
        double[] busy = [1.0, 0.66, 1.0, 1.0];
        for (int r = 1; r <= 4; r++)
        {
            RoundJournal.Append(j, [new JournalEntry(r, "", RoundJournal.C2cMetric, 60)]);
            RoundJournal.Append(j, [new JournalEntry(r, "busy/busy@90", "delivered", busy[r - 1])]);
            RoundJournal.Append(j, [new JournalEntry(r, "hybrid/hybrid@90", "delivered", hybrid[r - 1])]);
        }
        Report report = RoundJournal.ToReport(RoundJournal.Read(j), new Dictionary<string, string>());
        var plain = Goal.Parse("delivered|hybrid/hybrid@90||delivered|>=|0.99").Evaluate(report);
        var gated = Goal.Parse("delivered|hybrid/hybrid@90||delivered|>=|0.99|busy/busy@90").Evaluate(report);
        Assert.Equal((0.97 + 0.995) / 2, plain.Median, 9);
        Assert.Equal(GoalVerdict.Fail, plain.Verdict);
        Assert.Equal((2, 3, 1), (gated.RoundsMet, gated.Rounds, gated.GatedOut));
        Assert.Equal(0.995, gated.Median, 9);
        Assert.Equal(GoalVerdict.Pass, gated.Verdict);
        Assert.Contains("| 2/3 (1 left out) | pass |", GoalsMarkdown.Build(report, [gated]));

        // Busy carried it in no round: nothing to judge.
        var never = Goal.Parse("strict|hybrid/hybrid@90||delivered|>=|1.01|busy/busy@90").Evaluate(report);
        Assert.Equal((GoalVerdict.NotMeasured, 4), (never.Verdict, never.GatedOut));
        Assert.Contains("not measured: the gate fell short in every round", GoalsMarkdown.Build(report, [never]));

        // A gate belongs to an absolute goal only.
        Assert.Throws<FormatException>(() => Goal.Parse("x|hybrid/hybrid@90|busy/busy@90|delivered|>=|0.99|busy/busy@90"));
        Assert.Equal(2, PerfLab.Reports.Cli.Program.Main(["goals", j, "--goal", "typo|hybrid/hybrid@90||delivered|>=|0.99|busy/busy@50"]));
        Assert.Equal(0, PerfLab.Reports.Cli.Program.Main(["goals", j, "--goal", "delivered|hybrid/hybrid@90||delivered|>=|0.99|busy/busy@90"]));
    }

    [Fact]
    public void LoadGeneratorJsonGivesDeliveredShareAndDecisions()
    {
        const string Json = """{"mpps": 3.96, "offered_pps": 4000000, "received": 4000, "backend_packets": 8000, "backend_poll": {"sleeps": 80, "budget_ns": 12500, "notify_window_ns": 50000, "naps": 40, "coalesced_sleeps": 60, "kick_timeouts": 16, "kick_batch": 96}, "guest_poll": {"sleeps": 40, "budget_ns": 0}}""";
        var m = LoadGenJson.Metrics(Json);
        Assert.Equal(0.99, m["delivered"], 9);
        Assert.Equal(0.01, m["be_sleeps_frame"], 9);
        Assert.Equal(12.5, m["be_budget_us"], 9);
        Assert.Equal(50, m["be_notify_window_us"], 9);
        Assert.Equal(0.005, m["be_naps_frame"], 9);
        Assert.Equal(0.002, m["be_kick_timeouts_frame"], 9);
        Assert.Equal(96, m["be_kick_batch"]);
        Assert.False(m.ContainsKey("guest_kick_timeouts_frame"));
        Assert.Equal(0.01, m["guest_sleeps_frame"], 9);
        Assert.False(LoadGenJson.Metrics("""{"mpps": 40, "offered_pps": 0}""").ContainsKey("delivered"));
    }
}

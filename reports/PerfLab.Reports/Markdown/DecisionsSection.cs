using System.Text;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Markdown;

/// <summary>
/// report.md's "What the strategies decided": per configuration and load point, how often
/// each side slept, how long a sleep lasted (under a flow, the wake-up latency), the hybrid
/// budget and notify-poll window, naps; and the ceiling of a back-end that sleeps whenever
/// its ring is empty (issue 17: interrupt is the reference, and its ceiling is stated).
/// </summary>
public static class DecisionsSection
{
    private static readonly string[] Columns =
    [
        Metrics.BackendSleepsPerFrame, Metrics.BackendWakeupsPerFrame, Metrics.BackendSleepP50Us, Metrics.BackendSleepP99Us,
        Metrics.BackendBudgetUs, Metrics.BackendNotifyWindowUs, Metrics.BackendNapsPerFrame, Metrics.BackendKickTimeoutsPerFrame,
        Metrics.BackendKickBatch, Metrics.GuestSleepsPerFrame, Metrics.GuestSleepP50Us, Metrics.GuestBudgetUs, Metrics.GuestNotifyWindowUs,
    ];

    public static void Write(StringBuilder md, Report r, HashSet<int> used)
    {
        var rows = new List<string>();
        foreach (ConfigInfo c in r.Configs)
        {
            foreach (int load in Metrics.LoadPoints)
            {
                string[] cells = [.. Columns.Select(q => Format.Interval(Summaries.Of(r, c.Id, Metrics.At(q, load), used), q.EndsWith("_frame", StringComparison.Ordinal) ? 3 : 1))];
                // Busy polling keeps no decisions: its only figure is wake-ups, all zero.
                if (cells.All(x => x == Format.Unknown)
                    || (cells.Count(x => x != Format.Unknown) == 1 && Summaries.Of(r, c.Id, Metrics.At(Metrics.BackendWakeupsPerFrame, load), used).Median == 0))
                {
                    continue;
                }
                rows.Add($"| {Format.Cell(Views.LabelOf(c))} | {Metrics.LoadText(load)} | {string.Join(" | ", cells)} |");
            }
        }
        List<string> ceilings = Ceilings(r, used);
        if (rows.Count == 0 && ceilings.Count == 0)
        {
            return;
        }
        md.AppendLine("## What the strategies decided");
        md.AppendLine();
        md.AppendLine("Per frame received, medians over rounds with their interval. A sleep lasts from arming notifications to running again: "
            + "under a flow, that is the wake-up latency. Budget and notify-poll window (hybrid) are as the strategy stood at the end of the window; "
            + "naps: timed naps of a hybrid back-end with `--hybrid-naps`; kick timeouts: sleeps a `--hybrid-kick-batch` did not fill (docs/polling.md). Busy polling keeps no statistics (\"–\").");
        md.AppendLine();
        if (rows.Count > 0)
        {
            md.AppendLine("| Configuration | Load | Back-end sleeps/frame | Back-end wake-ups/frame | Back-end sleep p50 µs | Back-end sleep p99 µs | Back-end budget µs | Back-end notify window µs | Back-end naps/frame | Back-end kick timeouts/frame | Guest sleeps/frame | Guest sleep p50 µs | Guest budget µs | Guest notify window µs |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (string row in rows)
            {
                md.AppendLine(row);
            }
            md.AppendLine();
        }
        foreach (string line in ceilings)
        {
            md.AppendLine(line);
        }
        if (ceilings.Count > 0)
        {
            md.AppendLine();
        }
    }

    /// <summary>Issue 17's goals for each hybrid configuration, per round against its busy
    /// reference (<see cref="Goals.StrategyGoals"/>); nothing without a hybrid configuration.</summary>
    public static void WriteGoals(StringBuilder md, Report r, HashSet<int> used)
    {
        List<Goals.Goal> goals = Goals.StrategyGoals.For(r);
        if (goals.Count == 0)
        {
            return;
        }
        var results = goals.Select(g => g.Evaluate(r, used)).ToList();
        md.AppendLine("## The hybrid strategy's goals");
        md.AppendLine();
        md.AppendLine($"Issue 17's goals, each the median of its per-round values (ratios to busy / busy measured in the same round): {Goals.StrategyGoals.Limits}. "
            + "A median of fewer than 5 rounds is a reading, not a verdict (\"rounds met\" says how many there were). `scripts/hybrid-goals` measures the same goals at fractions of busy's maximum, with packed rings and two pairs too.");
        md.AppendLine();
        Goals.GoalsMarkdown.Table(md, results);
        md.AppendLine();
        md.AppendLine(Goals.GoalsMarkdown.Verdict(results));
        md.AppendLine();
    }

    /// <summary>
    /// A back-end that sleeps whenever its ring is empty moves at most one ring per wake-up
    /// round trip: a full ring cannot be refilled before the side that emptied it has been
    /// woken. The round trip is measured: the p50 latency at one frame in flight, where every
    /// frame pays the wake-ups. One line per interrupt back-end configuration with both figures.
    /// </summary>
    public static List<string> Ceilings(Report r, HashSet<int> used)
    {
        var lines = new List<string>();
        foreach (ConfigInfo c in r.Configs.Where(c => c.BackendPoll == "interrupt" && c.QueueSize > 0))
        {
            double roundTripUs = Summaries.Of(r, c.Id, Metrics.At(Metrics.P50Us, 0), used).Median;
            if (!Format.Known(roundTripUs) || roundTripUs <= 0)
            {
                continue;
            }
            double ceiling = c.QueueSize / roundTripUs;
            double pdr = Summaries.Of(r, c.Id, Metrics.PdrMpps, used).Median;
            string measured = Format.Known(pdr) ? $"; its PDR is {Format.Num(pdr)} Mpps, {Format.Num(pdr / ceiling)} of it" : "";
            lines.Add($"**Ceiling of {Views.LabelOf(c)}:** one ring per wake-up round trip, {c.QueueSize} frames ÷ {Format.Num(roundTripUs, 1)} µs "
                + $"(p50 at one frame in flight) = {Format.Num(ceiling)} Mpps{measured}.  ");
        }
        return lines;
    }
}

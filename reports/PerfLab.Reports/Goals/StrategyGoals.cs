using System.Globalization;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Goals;

/// <summary>
/// Issue 17's goals for the hybrid strategy, as a bench run measures them: each configuration
/// with a hybrid back-end against its busy-polling reference, per round. Unthrottled becomes
/// the PDR (each one's own capacity); the loads are the bench's fractions of each one's own PDR,
/// where the reference is also measured at the configuration's offered rate (<c>ref_</c>); one
/// frame in flight is load point 0. scripts/hybrid-goals measures the same goals at fractions
/// of busy's maximum instead, with packed rings and two pairs too.
/// </summary>
public static class StrategyGoals
{
    public static List<Goal> For(Report r)
    {
        var goals = new List<Goal>();
        foreach (ConfigInfo c in r.Configs.Where(c => c.BackendPoll == "hybrid" && c.Reference.Length > 0 && c.Devices <= 1))
        {
            string label = c.BackendArgs.Length > 0 ? $"{c.BackendPoll}/{c.GuestPoll} ({c.BackendArgs})" : $"{c.BackendPoll}/{c.GuestPoll}";
            string id = c.Id;
            goals.Add(new Goal($"{label}: PDR ÷ busy's", id, c.Reference, Metrics.PdrMpps, true, 0.9));
            foreach (int load in (int[])[50, 90])
            {
                goals.Add(new Goal($"{label} at {load} %: loss", id, "", Metrics.At(Metrics.Loss, load), false, 0.01) { Gate = id });
                goals.Add(new Goal($"{label} at {load} %: p99 ÷ busy's at its rate", id, id, Metrics.At(Metrics.P99Us, load), false, 2));
            }
            goals.Add(new Goal($"{label} at 10 %: back-end CPU ÷ busy's at its rate", id, id, Metrics.At(Metrics.BackendCpuPct, 10), false, 0.2));
            goals.Add(new Goal($"{label} at 10 %: p99 ÷ busy's at its rate", id, id, Metrics.At(Metrics.P99Us, 10), false, 2));
            goals.Add(new Goal($"{label}, one frame in flight: p50 ÷ busy's", id, c.Reference, Metrics.At(Metrics.P50Us, 0), false, 2));
        }
        return goals;
    }

    /// <summary>The limits in one line, for the report's text.</summary>
    public static string Limits => string.Create(CultureInfo.InvariantCulture,
        $"PDR at least 0.9× busy's; at 50 and 90 % of its PDR at most 1 % lost (in the rounds where busy carried the same offered rate) and p99 at most 2× busy's at the same offered rate; at 10 % back-end CPU at most 0.2× and p99 at most 2× busy's at the same rate; one frame in flight p50 at most 2× busy's");
}

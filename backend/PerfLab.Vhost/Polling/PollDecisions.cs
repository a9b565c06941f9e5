namespace PerfLab.Vhost.Polling;

/// <summary>
/// A snapshot of <see cref="PollStats"/> as the stats socket and the load generator's JSON
/// carry it: counters since the loop started (or over a window, after <see cref="Minus"/>) and
/// the budget and notify-poll window at the time of the snapshot.
/// </summary>
public sealed record PollDecisions
{
    public long Sleeps { get; init; }
    public long ArmsFoundWork { get; init; }
    public long SleptNs { get; init; }

    /// <summary>Hybrid: the poll budget when the snapshot was taken (0 for the others).</summary>
    public long BudgetNs { get; init; }

    /// <summary>Hybrid: the notify-poll window when the snapshot was taken (0 for the others).</summary>
    public long NotifyWindowNs { get; init; }

    public long NotifyPolls { get; init; }
    public long WakeProbes { get; init; }

    /// <summary>Hybrid with naps: timed naps, and those after which work was found.</summary>
    public long Naps { get; init; }
    public long NapsFoundWork { get; init; }

    /// <summary>Hybrid with a kick batch: sleeps armed a batch ahead, those the timeout ended,
    /// and the timeouts after which work was found.</summary>
    public long CoalescedSleeps { get; init; }
    public long KickTimeouts { get; init; }
    public long KickTimeoutsFoundWork { get; init; }

    /// <summary>Hybrid with a kick batch: buffers per kick when the snapshot was taken.</summary>
    public long KickBatch { get; init; }

    /// <summary>Sleeps by length from arming to running again, power-of-two µs buckets
    /// (<see cref="PollStats.BucketLabel"/>): under a flow, the wake-up latency.</summary>
    public long[] SleepHistogramUs { get; init; } = new long[PollStats.Buckets];

    /// <summary>Null for a strategy that keeps no statistics (busy polling).</summary>
    public static PollDecisions? From(PollStats? s) => s == null ? null : new PollDecisions
    {
        Sleeps = s.Sleeps,
        ArmsFoundWork = s.ArmsFoundWork,
        SleptNs = s.SleptNs,
        BudgetNs = s.BudgetNs,
        NotifyWindowNs = s.NotifyWindowNs,
        NotifyPolls = s.NotifyPolls,
        WakeProbes = s.WakeProbes,
        Naps = s.Naps,
        NapsFoundWork = s.NapsFoundWork,
        CoalescedSleeps = s.CoalescedSleeps,
        KickTimeouts = s.KickTimeouts,
        KickTimeoutsFoundWork = s.KickTimeoutsFoundWork,
        KickBatch = s.KickBatch,
        SleepHistogramUs = (long[])s.SleepHistogram.Clone(),
    };

    /// <summary>What happened between <paramref name="before"/> and this snapshot; the budget,
    /// window and kick batch are this snapshot's.</summary>
    public PollDecisions Minus(PollDecisions before) => this with
    {
        Sleeps = Sleeps - before.Sleeps,
        ArmsFoundWork = ArmsFoundWork - before.ArmsFoundWork,
        SleptNs = SleptNs - before.SleptNs,
        NotifyPolls = NotifyPolls - before.NotifyPolls,
        WakeProbes = WakeProbes - before.WakeProbes,
        Naps = Naps - before.Naps,
        NapsFoundWork = NapsFoundWork - before.NapsFoundWork,
        CoalescedSleeps = CoalescedSleeps - before.CoalescedSleeps,
        KickTimeouts = KickTimeouts - before.KickTimeouts,
        KickTimeoutsFoundWork = KickTimeoutsFoundWork - before.KickTimeoutsFoundWork,
        SleepHistogramUs = SleepHistogramUs.Zip(before.SleepHistogramUs, (x, y) => x - y).ToArray(),
    };

    /// <summary>Several loops (a back-end's workers) as one: counters and histograms added, the
    /// largest budget, window and kick batch.</summary>
    public static PollDecisions? Sum(IEnumerable<PollDecisions?> all)
    {
        PollDecisions? total = null;
        foreach (PollDecisions? d in all)
        {
            if (d == null)
            {
                continue;
            }
            total = total == null ? d : total with
            {
                Sleeps = total.Sleeps + d.Sleeps,
                ArmsFoundWork = total.ArmsFoundWork + d.ArmsFoundWork,
                SleptNs = total.SleptNs + d.SleptNs,
                BudgetNs = Math.Max(total.BudgetNs, d.BudgetNs),
                NotifyWindowNs = Math.Max(total.NotifyWindowNs, d.NotifyWindowNs),
                NotifyPolls = total.NotifyPolls + d.NotifyPolls,
                WakeProbes = total.WakeProbes + d.WakeProbes,
                Naps = total.Naps + d.Naps,
                NapsFoundWork = total.NapsFoundWork + d.NapsFoundWork,
                CoalescedSleeps = total.CoalescedSleeps + d.CoalescedSleeps,
                KickTimeouts = total.KickTimeouts + d.KickTimeouts,
                KickTimeoutsFoundWork = total.KickTimeoutsFoundWork + d.KickTimeoutsFoundWork,
                KickBatch = Math.Max(total.KickBatch, d.KickBatch),
                SleepHistogramUs = total.SleepHistogramUs.Zip(d.SleepHistogramUs, (x, y) => x + y).ToArray(),
            };
        }
        return total;
    }

    /// <summary>The sleep length under which a fraction <paramref name="q"/> of the sleeps fall
    /// (the upper edge of its bucket), µs; 0 without sleeps.</summary>
    public double SleepQuantileUs(double q) => PollStats.QuantileUs(SleepHistogramUs, q);
}

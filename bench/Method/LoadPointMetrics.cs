using HdrHistogram;
using PerfLab.Bench.Method.Trials;
using PerfLab.Reports.Model;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench.Method;

/// <summary>The per-round figures of one load-point trial, named as <see cref="Metrics"/> says.</summary>
public static class LoadPointMetrics
{
    /// <summary>Adds QUANTITY@LOAD (with <paramref name="prefix"/>, "" or "ref_") for every figure the trial has.</summary>
    public static void Add(RoundSample s, string prefix, int load, TrialOutcome o)
    {
        void Put(string quantity, double v) => s.Values[prefix + Metrics.At(quantity, load)] = v;
        double frames = o.Received;
        Put(Metrics.OfferedMpps, o.IntendedPps / 1e6);
        Put(Metrics.RxMpps, o.ReceivedPps / 1e6);
        Put(Metrics.Loss, o.LossRatio);
        if (o.Latency is { TotalCount: > 0 } h)
        {
            Put(Metrics.P50Us, h.GetValueAtPercentile(50) / 1000.0);
            Put(Metrics.P90Us, h.GetValueAtPercentile(90) / 1000.0);
            Put(Metrics.P99Us, h.GetValueAtPercentile(99) / 1000.0);
            Put(Metrics.P999Us, h.GetValueAtPercentile(99.9) / 1000.0);
            Put(Metrics.MaxUs, h.GetMaxValue() / 1000.0);
        }
        if (double.IsFinite(o.BackendCpuNs) && o.BackendIntervalNs > 0)
        {
            double share = o.BackendCpuNs / o.BackendIntervalNs;
            Put(Metrics.BackendCpuPct, share * 100);
            if (frames > 0)
            {
                // The back-end's share by its own clock, applied to the load generator's window.
                Put(Metrics.BackendNsPerFrame, share * o.DurationS * 1e9 / frames);
            }
        }
        if (double.IsFinite(o.LoadgenProcessCpuNs) && o.DurationS > 0)
        {
            Put(Metrics.LoadgenCpuPct, o.LoadgenProcessCpuNs / (o.DurationS * 1e9) * 100);
        }
        if (o.DurationS > 0)
        {
            // Host interference, not the strategy's: a polling thread held off its CPU for
            // 5 ms delays every frame of those 5 ms (docs/method.md#why-p99-can-be-in-milliseconds).
            if (double.IsFinite(o.LoadgenWaitNs))
            {
                Put(Metrics.LoadgenWaitPct, o.LoadgenWaitNs / (o.DurationS * 1e9) * 100);
            }
            if (double.IsFinite(o.BackendWaitNs))
            {
                Put(Metrics.BackendWaitPct, o.BackendWaitNs / (o.DurationS * 1e9) * 100);
            }
        }
        if (frames > 0)
        {
            if (double.IsFinite(o.LoadgenThreadCpuNs))
            {
                Put(Metrics.LoadgenNsPerFrame, o.LoadgenThreadCpuNs / frames);
            }
            Put(Metrics.KicksPerFrame, o.Kicks / frames);
            Put(Metrics.CallsPerFrame, o.Calls / frames);
            if (o.BackendWakeups >= 0)
            {
                Put(Metrics.BackendWakeupsPerFrame, o.BackendWakeups / frames);
            }
        }
        if (o.BackendPoll is { } be)
        {
            Decisions(be, frames, Metrics.BackendSleepsPerFrame, Metrics.BackendSleepP50Us, Metrics.BackendBudgetUs);
            if (be.Sleeps > 0)
            {
                Put(Metrics.BackendSleepP99Us, be.SleepQuantileUs(0.99));
            }
            if (be.NotifyWindowNs > 0)
            {
                Put(Metrics.BackendNotifyWindowUs, be.NotifyWindowNs / 1000.0);
            }
            if (be.Naps > 0 && frames > 0)
            {
                Put(Metrics.BackendNapsPerFrame, be.Naps / frames);
            }
            if (be.KickTimeouts > 0 && frames > 0)
            {
                Put(Metrics.BackendKickTimeoutsPerFrame, be.KickTimeouts / frames);
            }
            if (be.KickBatch > 0)
            {
                Put(Metrics.BackendKickBatch, be.KickBatch);
            }
        }
        if (o.GuestPoll is { } guest)
        {
            Decisions(guest, frames, Metrics.GuestSleepsPerFrame, Metrics.GuestSleepP50Us, Metrics.GuestBudgetUs);
            if (guest.NotifyWindowNs > 0)
            {
                Put(Metrics.GuestNotifyWindowUs, guest.NotifyWindowNs / 1000.0);
            }
        }

        // Sleeps per frame, the median sleep (under a flow, the wake-up latency) and the budget.
        void Decisions(PollDecisions d, double n, string sleeps, string p50, string budget)
        {
            if (n > 0)
            {
                Put(sleeps, d.Sleeps / n);
            }
            if (d.Sleeps > 0)
            {
                Put(p50, d.SleepQuantileUs(0.5));
            }
            Put(budget, d.BudgetNs / 1000.0);
        }
    }

    /// <summary>The percentile ladder of a merged histogram (HdrHistogram's iteration, 5 ticks per half distance).</summary>
    public static IEnumerable<PercentilePoint> Ladder(string configId, int load, HistogramBase merged) =>
        merged.TotalCount == 0 ? [] : merged.Percentiles(5).Select(v => new PercentilePoint
        {
            ConfigId = configId,
            Load = load,
            Percentile = v.PercentileLevelIteratedTo,
            LatencyNs = v.ValueIteratedTo,
            CountAtOrBelow = v.TotalCountToThisValue,
        });
}

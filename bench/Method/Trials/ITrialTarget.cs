using HdrHistogram;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench.Method.Trials;

/// <summary>
/// What one trial measured: the offered and received counts (the loss the search classifies),
/// the round-trip latency of the frames received in the window, and CPU over the window for
/// both processes. A figure that is not known is NaN (or null for the histogram).
/// </summary>
public sealed record TrialOutcome
{
    /// <summary>The rate asked for, frames/s; 0 for an unthrottled or ping-pong trial.</summary>
    public double IntendedPps { get; init; }

    /// <summary>The measured window, s.</summary>
    public double DurationS { get; init; }

    /// <summary>Frames the schedule offered in the window (sent, or dropped for want of room).</summary>
    public long Offered { get; init; }
    public long Received { get; init; }

    /// <summary>Offered but not back by the end of the trial's drain.</summary>
    public long Lost => Math.Max(0, Offered - Received);

    public double LossRatio => Offered > 0 ? (double)Lost / Offered : 0;

    /// <summary>Frames the generator itself could not offer in time (CPU-bound): not loss of
    /// the device under test, but a warning that the generator set the pace. -1: not known.</summary>
    public long GeneratorShortfall { get; init; } = -1;
    /// <summary>Scheduled frames the TX ring had no room for (the back-end did not take them in
    /// time); part of <see cref="Lost"/>. -1: not known.</summary>
    public long TxDropped { get; init; } = -1;
    /// <summary>Frames the back-end dropped because the guest had posted no RX buffer (the guest
    /// side fell behind); part of <see cref="Lost"/>. -1: not known.</summary>
    public long BackendDropped { get; init; } = -1;

    public HistogramBase? Latency { get; init; }

    public double BackendCpuNs { get; init; } = double.NaN;

    /// <summary>The back-end's own clock between its two snapshots (its CPU share's denominator).</summary>
    public double BackendIntervalNs { get; init; } = double.NaN;
    public double LoadgenProcessCpuNs { get; init; } = double.NaN;
    public double LoadgenThreadCpuNs { get; init; } = double.NaN;
    public long Kicks { get; init; }
    public long Calls { get; init; }

    /// <summary>How long the load generator's traffic thread was runnable but not running over
    /// the window (preempted by another thread or the kernel), ns.</summary>
    public double LoadgenWaitNs { get; init; } = double.NaN;

    /// <summary>The same for the back-end's polling threads (its workers; all of testpmd's threads), ns.</summary>
    public double BackendWaitNs { get; init; } = double.NaN;

    /// <summary>The strategies' decisions over the window (null where a side keeps none: busy
    /// polling, DPDK): sleeps, their lengths, the budget, the notify-poll window, naps.</summary>
    public PollDecisions? GuestPoll { get; init; }
    public PollDecisions? BackendPoll { get; init; }

    /// <summary>The back-end workers' wake-ups from a sleep (-1: not known).</summary>
    public long BackendWakeups { get; init; } = -1;

    /// <summary>Sequence, length, content or descriptor-id errors (not loss).</summary>
    public long Errors { get; init; }

    public double ReceivedPps => DurationS > 0 ? Received / DurationS : 0;
}

/// <summary>
/// One configuration's device under test, set up and ready: the bench runs many trials on it
/// (one visit), then disposes of it (which stops the back-end). Implementations: the load
/// generator against a real back-end (<see cref="LoadGenTrialTarget"/>; several devices on one
/// back-end: <see cref="DensityTrialTarget"/>), and a simulated
/// device in the tests.
/// </summary>
public interface ITrialTarget : IDisposable
{
    /// <summary>Offers <paramref name="ratePps"/> open loop for <paramref name="durationS"/>;
    /// frames that find no room are lost. 0: as fast as the generator goes (the warm-up).</summary>
    TrialOutcome Run(double ratePps, double durationS);

    /// <summary>One frame in flight for <paramref name="durationS"/>: the latency floor.</summary>
    TrialOutcome PingPong(double durationS);
}

/// <summary>Creates the trial target of a configuration (starts its back-end, connects).</summary>
public interface ITrialTargetFactory
{
    /// <summary>Null with the reason when the configuration cannot run here (no DPDK, say).</summary>
    string? Unavailable(BenchConfiguration c);

    ITrialTarget Open(BenchConfiguration c);
}

using System.Text.Json;
using System.Text.Json.Serialization;
using HdrHistogram;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Polling;

namespace PerfLab.LoadGen.Trials;

/// <summary>What one trial asks for: an open-loop rate for a duration (rate 0: as fast as the
/// rings allow), with a burst and an in-flight cap (0: the options' burst, no cap).</summary>
public readonly record struct TrialSpec(double RatePps, double DurationS, int Burst = 0, int MaxInFlight = 0)
{
    /// <summary>One frame in flight at a time, for <paramref name="durationS"/>: the latency floor.</summary>
    public static TrialSpec PingPong(double durationS) => new(0, durationS, Burst: 1, MaxInFlight: 1);
}

/// <summary>
/// One trial's figures. Counts cover the frames of this trial only: offered during its window,
/// and back by the end of its drain (a frame of an earlier trial coming back late is
/// <see cref="Stale"/>, not received). CPU figures cover the snapshot interval (the window and
/// the drain); -1 when unknown.
/// </summary>
public sealed record TrialResult
{
    public double IntendedPps { get; init; }
    public double IntendedDurationS { get; init; }
    public int Burst { get; init; }
    public int MaxInFlight { get; init; }

    /// <summary>The traffic window as it ran, s.</summary>
    public double WindowS { get; init; }

    /// <summary>Between the two snapshots (window and drain), s: CPU shares' denominator.</summary>
    public double IntervalS { get; init; }

    /// <summary>Frames the schedule offered in the window (rate 0: the frames sent).</summary>
    public long Offered { get; init; }
    public long Sent { get; init; }

    /// <summary>Frames not posted: the TX ring had no room at their scheduled time.</summary>
    public long TxDropped { get; init; }

    /// <summary>Frames the schedule offered that the generator never got to (it fell behind
    /// its own schedule, CPU-bound): not the device's loss; a trial with any is suspect.</summary>
    public long GeneratorShortfall { get; init; }

    public long Received { get; init; }

    /// <summary>Offered and not back: <see cref="Offered"/> - <see cref="Received"/>.</summary>
    public long Lost { get; init; }

    public double LossRatio { get; init; }

    /// <summary>Frames of earlier trials that came back during this one (not counted).</summary>
    public long Stale { get; init; }

    /// <summary>Reordered, corrupt, wrong-length frames and bad descriptor ids (not loss).</summary>
    public long Errors { get; init; }

    /// <summary>The back-end's own drop count over the trial (-1: unknown).</summary>
    public long BackendDropped { get; init; } = -1;

    public double ReceivedPps => WindowS > 0 ? Received / WindowS : 0;

    public long Kicks { get; init; }
    public long CallsReceived { get; init; }

    public long LoadgenCpuNs { get; init; }
    public long LoadgenThreadCpuNs { get; init; }
    public long BackendCpuNs { get; init; } = -1;

    /// <summary>The back-end's own clock between its snapshots, ns (-1: it has no stats socket).</summary>
    public long BackendIntervalNs { get; init; } = -1;

    public long BackendCalls { get; init; } = -1;
    public long BackendKicksReceived { get; init; } = -1;
    public long BackendWakeups { get; init; } = -1;

    /// <summary>How long the traffic thread was runnable but held off its CPU over the window,
    /// ns (schedstat; -1 unknown): host interference, docs/method.md#why-p99-can-be-in-milliseconds.</summary>
    public long LoadgenThreadWaitNs { get; init; } = -1;

    /// <summary>The same for the back-end's polling threads, ns (-1 unknown).</summary>
    public long BackendWaitNs { get; init; } = -1;

    /// <summary>The guest strategy's decisions over the trial (null: busy polling).</summary>
    public PollDecisions? GuestPoll { get; init; }

    /// <summary>The back-end workers' decisions over the trial, summed (null: busy polling, or
    /// no stats socket).</summary>
    public PollDecisions? BackendPoll { get; init; }

    /// <summary>Round-trip latency of this trial's frames.</summary>
    public LatencySummary LatencyNs { get; init; } = new();

    /// <summary>The latency distribution (a copy, the caller's to keep); not in JSON.</summary>
    [JsonIgnore]
    public LongHistogram? Histogram { get; init; }

    /// <summary>Per device, when the trial ran over several (the figures above are their totals).</summary>
    public List<TrialResult> Devices { get; init; } = [];

    public string ToJson(bool indented = false) => JsonSerializer.Serialize(this, indented ? Json.Indented : Json.Compact);
}

using HdrHistogram;
using PerfLab.LoadGen.Guest;
using PerfLab.LoadGen.Measurement;
using PerfLab.LoadGen.Results;
using PerfLab.Vhost.Diagnostics;

namespace PerfLab.LoadGen.Trials;

/// <summary>
/// Many short trials on one set-up device and connection, back to back with a quiet gap
/// between them, as a throughput search (MLRsearch) needs: each trial offers a rate open loop
/// for a duration, drains, and reports offered, sent, received, lost, its latency histogram
/// and the CPU of both processes (<see cref="TrialResult"/>). With
/// <see cref="LoadGenOptions.Lossy"/> frames that find no room are lost, never sent late; a
/// back-end in --drop-when-full mode then drops what the guest's RX buffers cannot take.
/// Call from the traffic thread (pinned by the caller); the trial's window allocates nothing.
/// </summary>
public sealed class TrialRunner : ITrialRunner
{
    private readonly TrafficEngine _engine;
    private readonly LoadGenOptions _o;
    private readonly Func<IReadOnlyList<long>> _errFaults;
    private bool _ran;

    public TrialRunner(LoadGenerator g)
        : this(g.Engine ?? throw new InvalidOperationException("Setup first"), g.Options, () => [g.Guest.DrainErrFds()])
    {
    }

    /// <param name="errFaults">Ring errors the back-end signalled since the last call, per device.</param>
    public TrialRunner(TrafficEngine engine, LoadGenOptions options, Func<IReadOnlyList<long>> errFaults)
    {
        _engine = engine;
        _o = options;
        _errFaults = errFaults;
    }

    /// <summary>Quiet time before every trial but the first, s.</summary>
    public double GapS { get; init; } = 0.01;

    /// <summary>Longest drain after a trial's window, s.</summary>
    public double DrainTimeoutS { get; init; } = 0.05;

    /// <summary>A drain ends once every TX buffer is back and nothing came back for this long, s.</summary>
    public double GraceS { get; init; } = TrafficEngine.LossyGraceS;

    public TrialResult Run(double ratePps, double durationS) => Run(new TrialSpec(ratePps, durationS));

    public TrialResult PingPong(double durationS) => Run(TrialSpec.PingPong(durationS));

    public TrialResult Run(TrialSpec spec) => Run(spec, 0);

    /// <param name="phase">Delays the schedule by this fraction of one burst interval
    /// (<see cref="TrafficEngine.StartBoundedSchedule"/>: devices sharing a rate).</param>
    internal TrialResult Run(TrialSpec spec, double phase)
    {
        if (_ran && GapS > 0)
        {
            Thread.Sleep(TimeSpan.FromSeconds(GapS));
        }
        _ran = true;
        ActiveTrial t = Begin(spec);
        Start(t, phase);
        _engine.RunUntil(_engine.ScheduleEndTick);
        t.EndWindow();
        TrialDrain d = BeginDrain(t);
        _engine.RunDrain(ref d);
        return End(t);
    }

    // ---- the phases of a trial, which DeviceSetTrialRunner also runs for several devices on
    // one thread (Begin every device, Start every device, step them in turn, drain them in
    // turn, End every device) ----------------------------------------------------------------

    /// <summary>A trial under way on this device: its spec, its begin snapshot, its schedule
    /// and window. Created before the window (it allocates); nothing in it allocates after.</summary>
    internal sealed class ActiveTrial(TrialRunner runner, TrialSpec spec, int burst, MeasurementWindow begin)
    {
        public TrialRunner Runner { get; } = runner;
        public TrialSpec Spec { get; } = spec;
        public int Burst { get; } = burst;
        public MeasurementWindow BeginWindow { get; } = begin;
        public long Scheduled { get; set; }
        public long StartTick { get; set; }
        public long EndTick { get; set; }
        public bool WindowOver { get; private set; }

        /// <summary>The traffic window ends now (the schedule has run out).</summary>
        public void EndWindow()
        {
            EndTick = Clock.Now();
            WindowOver = true;
        }
    }

    /// <summary>Before the window: sets the load, starts the trial's sequence numbers, and
    /// takes the begin snapshot (which fetches the back-end's stats: it allocates).</summary>
    internal ActiveTrial Begin(TrialSpec spec)
    {
        if (spec.DurationS <= 0 || double.IsNaN(spec.DurationS) || spec.RatePps < 0 || double.IsNaN(spec.RatePps))
        {
            throw new ArgumentOutOfRangeException(nameof(spec), spec, "a trial needs a positive duration and a rate >= 0");
        }
        TrafficEngine e = _engine;
        int burst = spec.Burst > 0 ? spec.Burst : _o.Burst;
        e.SetLoad(spec.RatePps, burst, spec.MaxInFlight);
        e.BeginTrial();
        e.Histogram.Reset();
        _ = _errFaults();
        return new ActiveTrial(this, spec, burst, MeasurementWindow.Begin(e, _o));
    }

    /// <summary>The window starts now (or <paramref name="phase"/> of a burst interval from
    /// now): the bounded schedule runs from there for the trial's duration. Allocates nothing.</summary>
    internal void Start(ActiveTrial t, double phase = 0)
    {
        TrafficEngine e = _engine;
        long ticks = (long)(t.Spec.DurationS * Clock.TicksPerSecond);
        e.Sending = true;
        e.Measuring = true;
        t.Scheduled = e.StartBoundedSchedule(ticks, phase);
        t.StartTick = e.ScheduleStartTick;
    }

    /// <summary>After the window: the drain of this trial's frames, to be run by
    /// <see cref="TrafficEngine.DrainStep"/>. Allocates nothing.</summary>
    internal TrialDrain BeginDrain(ActiveTrial t) =>
        _engine.BeginDrain(_engine.C.Sent - t.BeginWindow.C.Sent, t.BeginWindow.C.Received, GraceS, DrainTimeoutS);

    /// <summary>After the drain: the end snapshot (it allocates), the options' load back, the result.</summary>
    internal TrialResult End(ActiveTrial t)
    {
        TrafficEngine e = _engine;
        e.Measuring = false;
        e.EndBoundedSchedule();
        bool clockJumped = t.EndTick < t.StartTick || e.C.ClockJumps != t.BeginWindow.C.ClockJumps;
        MeasurementWindow? end = clockJumped ? null : MeasurementWindow.End(e, _o);
        e.SetLoad(_o.RatePps, _o.Burst, _o.MaxInFlight);
        if (end == null)
        {
            throw new InvalidOperationException("the clock (TSC) read earlier than the trial's start: the VM was restored from a snapshot or moved to another host during the trial, whose times then mean nothing; trial ended, not measured");
        }
        return Build(t.Spec, t.Burst, t.Scheduled, Clock.TicksToNs(t.EndTick - t.StartTick) / 1e9, t.BeginWindow, end, e.Histogram);
    }

    internal TrafficEngine Engine => _engine;

    private TrialResult Build(TrialSpec spec, int burst, long scheduled, double windowS, MeasurementWindow a, MeasurementWindow b, LongHistogram h)
    {
        EngineCounters x = a.C, y = b.C;
        long sent = y.Sent - x.Sent;
        long dropped = y.TxDropped - x.TxDropped;
        long received = y.Received - x.Received;
        long offered = spec.RatePps > 0 ? Math.Max(scheduled, sent + dropped) : sent;
        long lost = Math.Max(0, offered - received);
        long errors = (y.SeqErrors - x.SeqErrors) + (y.BadLength - x.BadLength) + (y.Corrupt - x.Corrupt)
            + (y.BadIds - x.BadIds) + (y.VerifyErrors - x.VerifyErrors) + _errFaults().Sum();
        var r = new TrialResult
        {
            IntendedPps = spec.RatePps,
            IntendedDurationS = spec.DurationS,
            Burst = burst,
            MaxInFlight = spec.MaxInFlight,
            WindowS = windowS,
            IntervalS = Clock.TicksToNs(b.Tick - a.Tick) / 1e9,
            Offered = offered,
            Sent = sent,
            TxDropped = dropped,
            GeneratorShortfall = y.LateFrames - x.LateFrames,
            Received = received,
            Lost = lost,
            LossRatio = offered > 0 ? (double)lost / offered : 0,
            Stale = y.Stale - x.Stale,
            Errors = errors,
            Kicks = y.Kicks - x.Kicks,
            CallsReceived = y.CallsReceived - x.CallsReceived,
            LoadgenCpuNs = (b.Process - a.Process).TotalNs,
            LoadgenThreadCpuNs = (b.Thread - a.Thread).TotalNs,
            LoadgenThreadWaitNs = MeasurementWindow.WaitBetween(a, b).Thread,
            BackendWaitNs = MeasurementWindow.WaitBetween(a, b).Backend,
            GuestPoll = MeasurementWindow.GuestPollBetween(a, b),
            BackendPoll = MeasurementWindow.BackendPollBetween(a, b),
            LatencyNs = ResultBuilder.Summarize(h),
            Histogram = (LongHistogram)h.Copy(),
        };
        if (a.BackendCpuNs >= 0 && b.BackendCpuNs >= 0)
        {
            r = r with { BackendCpuNs = b.BackendCpuNs - a.BackendCpuNs };
        }
        if (a.Backend is { } sa && b.Backend is { } sb)
        {
            r = r with
            {
                BackendIntervalNs = sb.TimestampNs - sa.TimestampNs,
                BackendDropped = sb.Queues.Sum(q => q.Dropped) - sa.Queues.Sum(q => q.Dropped),
                BackendCalls = sb.Queues.Sum(q => q.Calls) - sa.Queues.Sum(q => q.Calls),
                BackendKicksReceived = sb.Queues.Sum(q => q.Kicks) - sa.Queues.Sum(q => q.Kicks),
                BackendWakeups = sb.Workers.Sum(w => w.Wakeups) - sa.Workers.Sum(w => w.Wakeups),
            };
        }
        return r;
    }
}

using PerfLab.LoadGen.Guest;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Polling;

namespace PerfLab.LoadGen.Measurement;

/// <summary>What is snapshotted at the start and end of a measured window: our counters, CPU
/// and GC figures, and the back-end's (stats socket, or its CPU time from /proc).</summary>
public sealed record MeasurementWindow(long Tick, EngineCounters C, CpuTime Process, CpuTime Thread, GcSnapshot Gc, BackendStats? Backend, long BackendCpuNs)
{
    /// <summary>The guest strategy's decisions at this point (null for busy polling).</summary>
    public PollDecisions? GuestPoll { get; init; }

    /// <summary>The calling (traffic) thread's run-queue wait so far, ns (<see cref="RunQueueWait"/>); -1 unknown.</summary>
    public long ThreadWaitNs { get; init; } = -1;

    /// <summary>The back-end's polling threads' run-queue wait so far, ns: its workers (stats
    /// socket) or every thread of its process (pid only); -1 unknown.</summary>
    public long BackendWaitNs { get; init; } = -1;

    /// <summary>Fetches the back-end's figures first and reads our own last, so that the
    /// fetch (which allocates) falls outside the window.</summary>
    public static MeasurementWindow Begin(TrafficEngine engine, LoadGenOptions o)
    {
        (BackendStats? b, long bcpu) = FetchBackend(o);
        long bwait = BackendWait(b, o);
        long wait = RunQueueWait.OfCurrentThread();
        EngineCounters c = engine.C.Clone();
        PollDecisions? guestPoll = PollDecisions.From(engine.PollStats);
        CpuTime p = CpuTime.Process();
        CpuTime t = CpuTime.Thread();
        GcSnapshot gc = GcSnapshot.Take();
        return new MeasurementWindow(Clock.Now(), c, p, t, gc, b, bcpu) { GuestPoll = guestPoll, ThreadWaitNs = wait, BackendWaitNs = bwait };
    }

    /// <summary>The mirror of <see cref="Begin(TrafficEngine, LoadGenOptions)"/>: our own figures first, then the back-end's.</summary>
    public static MeasurementWindow End(TrafficEngine engine, LoadGenOptions o)
    {
        long tick = Clock.Now();
        GcSnapshot gc = GcSnapshot.Take();
        CpuTime t = CpuTime.Thread();
        CpuTime p = CpuTime.Process();
        EngineCounters c = engine.C.Clone();
        PollDecisions? guestPoll = PollDecisions.From(engine.PollStats);
        long wait = RunQueueWait.OfCurrentThread();
        (BackendStats? b, long bcpu) = FetchBackend(o);
        long bwait = BackendWait(b, o);
        return new MeasurementWindow(tick, c, p, t, gc, b, bcpu) { GuestPoll = guestPoll, ThreadWaitNs = wait, BackendWaitNs = bwait };
    }

    public static MeasurementWindow Begin(LoadGenerator g) => Begin(g.Engine ?? throw new InvalidOperationException("Setup first"), g.Options);

    public static MeasurementWindow End(LoadGenerator g) => End(g.Engine ?? throw new InvalidOperationException("Setup first"), g.Options);

    /// <summary>Run-queue wait of the traffic thread and of the back-end's polling threads
    /// from <paramref name="a"/> to <paramref name="b"/>, ns; -1 where not known.</summary>
    public static (long Thread, long Backend) WaitBetween(MeasurementWindow a, MeasurementWindow b) =>
        (Delta(a.ThreadWaitNs, b.ThreadWaitNs), Delta(a.BackendWaitNs, b.BackendWaitNs));

    /// <summary>The guest strategy's decisions from <paramref name="a"/> to <paramref name="b"/>
    /// (null for busy polling, which keeps none).</summary>
    public static PollDecisions? GuestPollBetween(MeasurementWindow a, MeasurementWindow b) =>
        b.GuestPoll is { } gb && a.GuestPoll is { } ga ? gb.Minus(ga) : null;

    /// <summary>The back-end workers' decisions from <paramref name="a"/> to <paramref name="b"/>,
    /// summed (null without a stats socket, or where no worker keeps any).</summary>
    public static PollDecisions? BackendPollBetween(MeasurementWindow a, MeasurementWindow b) =>
        a.Backend is { } sa && b.Backend is { } sb
            ? PollDecisions.Sum(sb.Workers.Select(w => w.Poll is { } p1 && sa.Workers.FirstOrDefault(x => x.Id == w.Id)?.Poll is { } p0 ? p1.Minus(p0) : null))
            : null;

    private static long Delta(long begin, long end) => begin >= 0 && end >= begin ? end - begin : -1;

    private static long BackendWait(BackendStats? b, LoadGenOptions o) =>
        b is { Pid: > 0, Workers.Count: > 0 } ? RunQueueWait.OfThreads(b.Pid, b.Workers.Select(w => w.Tid))
        : o.BackendPid > 0 ? RunQueueWait.OfProcess(o.BackendPid)
        : -1;

    private static (BackendStats?, long) FetchBackend(LoadGenOptions o)
    {
        BackendStats? b = StatsClient.TryFetch(o.BackendStatsSocket);
        return (b, b?.CpuNs ?? (o.BackendPid > 0 ? CpuTime.OfProcess(o.BackendPid) : -1));
    }
}

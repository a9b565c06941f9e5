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

    /// <summary>Fetches the back-end's figures first and reads our own last, so that the
    /// fetch (which allocates) falls outside the window.</summary>
    public static MeasurementWindow Begin(TrafficEngine engine, LoadGenOptions o)
    {
        (BackendStats? b, long bcpu) = FetchBackend(o);
        EngineCounters c = engine.C.Clone();
        PollDecisions? guestPoll = PollDecisions.From(engine.PollStats);
        CpuTime p = CpuTime.Process();
        CpuTime t = CpuTime.Thread();
        GcSnapshot gc = GcSnapshot.Take();
        return new MeasurementWindow(Clock.Now(), c, p, t, gc, b, bcpu) { GuestPoll = guestPoll };
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
        (BackendStats? b, long bcpu) = FetchBackend(o);
        return new MeasurementWindow(tick, c, p, t, gc, b, bcpu) { GuestPoll = guestPoll };
    }

    public static MeasurementWindow Begin(LoadGenerator g) => Begin(g.Engine ?? throw new InvalidOperationException("Setup first"), g.Options);

    public static MeasurementWindow End(LoadGenerator g) => End(g.Engine ?? throw new InvalidOperationException("Setup first"), g.Options);

    private static (BackendStats?, long) FetchBackend(LoadGenOptions o)
    {
        BackendStats? b = StatsClient.TryFetch(o.BackendStatsSocket);
        return (b, b?.CpuNs ?? (o.BackendPid > 0 ? CpuTime.OfProcess(o.BackendPid) : -1));
    }
}

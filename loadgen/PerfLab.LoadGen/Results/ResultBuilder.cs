using HdrHistogram;
using PerfLab.LoadGen.Guest;
using PerfLab.LoadGen.Measurement;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Protocol;

namespace PerfLab.LoadGen.Results;

/// <summary>Turns two window snapshots (and the run's protocol checks) into a <see cref="LoadGenResult"/>.</summary>
public static class ResultBuilder
{
    public static LoadGenResult Build(LoadGenerator g, MeasurementWindow a, MeasurementWindow b)
    {
        LoadGenOptions o = g.Options;
        TrafficEngine e = g.Engine ?? throw new InvalidOperationException("Setup first");
        RunController runs = g.Runs;
        double secs = Clock.TicksToNs(b.Tick - a.Tick) / 1e9;
        long received = b.C.Received - a.C.Received;
        GcSnapshot gc = b.Gc - a.Gc;
        CpuTime cpu = b.Process - a.Process;
        CpuTime thr = b.Thread - a.Thread;
        LongHistogram h = e.Histogram;
        double pp(long v) => received > 0 ? (double)v / received : 0;
        var r = new LoadGenResult
        {
            Backend = o.BackendLabel,
            Poll = o.Poll.Describe(),
            Features = VirtioFeatures.Describe(g.AckedFeatures),
            ProtocolFeatures = PerfLab.Vhost.Protocol.ProtocolFeatures.Describe(g.AckedProtocolFeatures),
            ReceivedPerPair = g.Pairs.Select(p => p.Received).ToArray(),
            ConnectToFirstFrameMs = runs.FirstFrameMs,
            ReconnectMs = [.. runs.ReconnectMs],
            RarpReceived = e.C.RarpReceived,
            DirtyPagesLogged = runs.Dirty.Logged,
            DirtyPagesExpected = runs.Dirty.Expected,
            DirtyLogMismatches = runs.Dirty.Mismatches,
            FrameSize = o.FrameSize,
            QueueSize = o.QueueSize,
            Burst = o.Burst,
            Queues = o.Queues,
            OfferedPps = o.RatePps,
            DurationS = secs,
            Sent = e.C.Sent,
            Received = e.C.Received,
            Lost = e.C.Sent - e.C.Received,
            SeqErrors = e.C.SeqErrors,
            Unswapped = e.C.Unswapped,
            BadLength = e.C.BadLength,
            Corrupt = e.C.Corrupt,
            VerifyErrors = e.C.VerifyErrors,
            BadIds = e.C.BadIds,
            RingErrors = g.Guest.DrainErrFds(),
            Mpps = received / secs / 1e6,
            Gbps = received * (double)o.FrameSize * 8 / secs / 1e9,
            LatencyNs = Summarize(h),
            LatencyPercentiles = Percentiles(h),
            Kicks = b.C.Kicks - a.C.Kicks,
            KicksPerPacket = pp(b.C.Kicks - a.C.Kicks),
            CallsReceived = b.C.CallsReceived - a.C.CallsReceived,
            CallsPerPacket = pp(b.C.CallsReceived - a.C.CallsReceived),
            Sleeps = b.C.Sleeps - a.C.Sleeps,
            GuestPoll = MeasurementWindow.GuestPollBetween(a, b),
            TxFullStalls = b.C.TxFullStalls - a.C.TxFullStalls,
            LoadgenCpuNs = cpu.TotalNs,
            LoadgenThreadCpuNs = thr.TotalNs,
            LoadgenCpuPct = cpu.TotalNs / (secs * 1e9) * 100,
            LoadgenCpuNsPerPacket = pp(thr.TotalNs),
            Gen0 = gc.Gen0,
            Gen1 = gc.Gen1,
            Gen2 = gc.Gen2,
            AllocatedBytes = gc.AllocatedBytes,
            Clock = Clock.Source,
        };
        return WithBackend(r, a, b, secs, pp);
    }

    /// <summary>Adds the back-end's CPU and counters over the window, when known.</summary>
    private static LoadGenResult WithBackend(LoadGenResult r, MeasurementWindow a, MeasurementWindow b, double secs, Func<long, double> pp)
    {
        if (a.BackendCpuNs >= 0 && b.BackendCpuNs >= 0)
        {
            long bc = b.BackendCpuNs - a.BackendCpuNs;
            // The share of a core by the back-end's own clock when it has one (its snapshots
            // bracket the stats round trips, which our window does not include).
            double backendSecs = a.Backend is { } s0 && b.Backend is { } s1 && s1.TimestampNs > s0.TimestampNs
                ? (s1.TimestampNs - s0.TimestampNs) / 1e9
                : secs;
            r = r with { BackendCpuNs = bc, BackendCpuPct = bc / (backendSecs * 1e9) * 100, BackendCpuNsPerPacket = pp(bc) };
        }
        if (a.Backend is { } sa && b.Backend is { } sb)
        {
            long pk = sb.Packets - sa.Packets;
            r = r with
            {
                BackendPackets = pk,
                BackendBusyNsPerPacket = pk > 0 ? (double)(sb.BusyNs - sa.BusyNs) / pk : 0,
                BackendCalls = sb.Queues.Sum(q => q.Calls) - sa.Queues.Sum(q => q.Calls),
                BackendKicksReceived = sb.Queues.Sum(q => q.Kicks) - sa.Queues.Sum(q => q.Kicks),
                BackendWakeups = sb.Workers.Sum(w => w.Wakeups) - sa.Workers.Sum(w => w.Wakeups),
                BackendEmptyPolls = sb.Workers.Sum(w => w.EmptyPolls) - sa.Workers.Sum(w => w.EmptyPolls),
                BackendPoll = MeasurementWindow.BackendPollBetween(a, b),
                BackendGen0 = sb.Gen0 - sa.Gen0,
                BackendGen1 = sb.Gen1 - sa.Gen1,
                BackendGen2 = sb.Gen2 - sa.Gen2,
                BackendAllocatedBytes = sb.AllocatedBytes - sa.AllocatedBytes,
                BackendDataPlaneAllocatedBytes = sb.DataPlaneAllocatedBytes - sa.DataPlaneAllocatedBytes,
            };
        }
        return r;
    }

    public static LatencySummary Summarize(LongHistogram h) => h.TotalCount == 0 ? new LatencySummary() : new LatencySummary
    {
        Count = h.TotalCount,
        Mean = h.GetMean(),
        P50 = h.GetValueAtPercentile(50),
        P90 = h.GetValueAtPercentile(90),
        P99 = h.GetValueAtPercentile(99),
        P999 = h.GetValueAtPercentile(99.9),
        Max = h.GetMaxValue(),
    };

    /// <summary>The distribution at HdrHistogram's usual ladder of percentiles.</summary>
    public static List<double[]> Percentiles(LongHistogram h)
    {
        var list = new List<double[]>();
        if (h.TotalCount == 0)
        {
            return list;
        }
        foreach (double p in new[] { 0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 97.5, 98, 98.5, 99, 99.25, 99.5, 99.75, 99.9, 99.95, 99.99, 99.995, 99.999, 100 })
        {
            list.Add([p, h.GetValueAtPercentile(p)]);
        }
        return list;
    }
}

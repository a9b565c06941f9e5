using HdrHistogram;
using PerfLab.Bench.EndToEnd;
using PerfLab.LoadGen;
using PerfLab.LoadGen.Guest;
using PerfLab.LoadGen.Measurement;
using PerfLab.LoadGen.Results;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench.Method.Trials;

/// <summary>
/// The real device under test: the configuration's back-end as its own process (perflab-backend
/// with --drop-when-full, or testpmd), and PerfLab's load generator in this process on the
/// calling thread (the caller pins it to <see cref="BackendLauncher.LoadGenCpu"/>).
/// This file and <see cref="DensityTrialTarget"/> are the only ones of the bench that know the
/// load generator's API.
/// <para>
/// Interim, until the load generator's lossy trial API lands: each trial opens its own
/// connection (the engine's rate is fixed when it is built), offers the rate with the
/// generator's rate mode, and counts as lost every frame the schedule offered that did not
/// come back by the end of the drain (frames the rings could not take are sent late, not
/// dropped, so they count through the shortfall).
/// </para>
/// </summary>
public sealed class LoadGenTrialTarget : ITrialTarget
{
    internal const double DrainS = 0.05;

    private readonly BenchConfiguration _c;
    private readonly IBackendUnderTest _backend;
    private readonly string _dir;
    private readonly string _socket;

    private LoadGenTrialTarget(BenchConfiguration c, IBackendUnderTest backend, string dir, string socket)
    {
        _c = c;
        _backend = backend;
        _dir = dir;
        _socket = socket;
    }

    /// <summary>Starts the back-end of <paramref name="c"/> (extra back-end arguments appended).</summary>
    public static LoadGenTrialTarget Open(BenchConfiguration c, IReadOnlyList<string> extraBackendArgs, PollMode? backendPollOverride)
    {
        string dir = Directory.CreateTempSubdirectory("plt-").FullName;
        try
        {
            string sock = Path.Combine(dir, "vhost.sock");
            var args = new List<string> { "--drop-when-full" };
            args.AddRange(c.BackendArgs);
            args.AddRange(extraBackendArgs);
            IBackendUnderTest backend = BackendLauncher.Start(c.Peer, backendPollOverride ?? c.BackendPoll, sock, dir, c.Pairs, args);
            return new LoadGenTrialTarget(c, backend, dir, sock);
        }
        catch
        {
            Directory.Delete(dir, recursive: true);
            throw;
        }
    }

    public TrialOutcome Run(double ratePps, double durationS) => Trial(ratePps, durationS, pingPong: false);

    public TrialOutcome PingPong(double durationS) => Trial(0, durationS, pingPong: true);

    private TrialOutcome Trial(double ratePps, double durationS, bool pingPong)
    {
        using var gen = new LoadGenerator(GuestOptions(_c, _socket, _backend) with
        {
            Burst = pingPong ? 1 : _c.Burst,
            MaxInFlight = pingPong ? 1 : 0,
            RatePps = ratePps,
        });
        gen.Setup();
        _backend.OnDeviceReady();
        TrafficEngine e = gen.Engine!;
        e.Sending = true;
        e.Histogram.Reset();
        var begin = MeasurementWindow.Begin(gen);
        e.StartSchedule();
        e.Measuring = true;
        e.RunUntil(Clock.Now() + (long)(durationS * Clock.TicksPerSecond));
        e.Measuring = false;
        var end = MeasurementWindow.End(gen);
        LoadGenResult r = ResultBuilder.Build(gen, begin, end);
        LongHistogram latency = e.Histogram.Copy() as LongHistogram ?? new LongHistogram(TrafficEngine.MaxLatencyNs, 3);
        e.Drain(DrainS);
        long received = e.C.Received - begin.C.Received;
        long sentInWindow = end.C.Sent - begin.C.Sent;
        long offered = ratePps > 0 ? (long)Math.Round(ratePps * r.DurationS) : sentInWindow;
        var outcome = new TrialOutcome
        {
            IntendedPps = ratePps,
            DurationS = r.DurationS,
            Offered = Math.Max(offered, received),
            Received = received,
            Latency = latency,
            BackendCpuNs = r.BackendCpuNs >= 0 ? r.BackendCpuNs : double.NaN,
            BackendIntervalNs = end.Backend is { } b1 && begin.Backend is { } b0 ? b1.TimestampNs - b0.TimestampNs : r.DurationS * 1e9,
            LoadgenProcessCpuNs = r.LoadgenCpuNs,
            LoadgenThreadCpuNs = r.LoadgenThreadCpuNs,
            LoadgenWaitNs = Known(MeasurementWindow.WaitBetween(begin, end).Thread),
            BackendWaitNs = Known(MeasurementWindow.WaitBetween(begin, end).Backend),
            Kicks = r.Kicks,
            Calls = r.CallsReceived,
            Errors = (end.C.BadLength - begin.C.BadLength) + (end.C.Corrupt - begin.C.Corrupt) + (end.C.BadIds - begin.C.BadIds),
        };
        try
        {
            gen.Teardown();
        }
        catch (IOException)
        {
            // the back-end may already have dropped the session; the next trial reconnects
        }
        return outcome;
    }

    private static double Known(long ns) => ns >= 0 ? ns : double.NaN;

    /// <summary>A guest of <paramref name="c"/> on <paramref name="socket"/> against <paramref name="backend"/>:
    /// the options every bench trial target starts from.</summary>
    internal static LoadGenOptions GuestOptions(BenchConfiguration c, string socket, IBackendUnderTest backend) => new()
    {
        SocketPath = socket,
        FrameSize = c.FrameSize,
        QueueSize = c.QueueSize,
        Burst = c.Burst,
        Packed = c.Ring == RingLayout.Packed,
        Queues = c.Pairs,
        Mergeable = c.Mergeable,
        Poll = new PollOptions { Mode = c.GuestPoll },
        BackendStatsSocket = backend.StatsSocket,
        BackendPid = backend.StatsSocket is null ? backend.Pid : 0,
        BackendLabel = backend.Label,
        ConnectTimeoutS = 30,
        DrainTimeoutS = DrainS,
    };

    public void Dispose()
    {
        _backend.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Opens <see cref="LoadGenTrialTarget"/>s; knows which configurations can run here.</summary>
public sealed class LoadGenTargetFactory : ITrialTargetFactory
{
    private readonly IReadOnlyList<string> _extraBackendArgs;
    private readonly PollMode? _backendPoll;

    /// <param name="extraBackendArgs">Appended to every perflab-backend's arguments (--backend-args).</param>
    /// <param name="backendPoll">Replaces every PerfLab configuration's back-end strategy (--backend-poll).</param>
    public LoadGenTargetFactory(IReadOnlyList<string> extraBackendArgs, PollMode? backendPoll)
    {
        _extraBackendArgs = extraBackendArgs;
        _backendPoll = backendPoll;
    }

    public string? Unavailable(BenchConfiguration c) =>
        c.NeedsDpdk && !BackendLauncher.DpdkAvailable ? "dpdk-testpmd is not installed (scripts/install-peers)"
        : c.OnDeviceSet && c.Peer != Peer.PerfLab ? "several devices run against PerfLab's back-end only"
        : null;

    /// <summary>A density configuration (<see cref="BenchConfiguration.OnDeviceSet"/>) opens a
    /// <see cref="DensityTrialTarget"/>, every other one a <see cref="LoadGenTrialTarget"/>.</summary>
    public ITrialTarget Open(BenchConfiguration c) => c.OnDeviceSet
        ? DensityTrialTarget.Open(c, _extraBackendArgs, _backendPoll)
        : LoadGenTrialTarget.Open(c, c.Peer == Peer.PerfLab ? _extraBackendArgs : [], c.Peer == Peer.PerfLab ? _backendPoll : null);
}

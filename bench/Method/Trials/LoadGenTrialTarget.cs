using PerfLab.Bench.EndToEnd;
using PerfLab.LoadGen;
using PerfLab.LoadGen.Trials;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench.Method.Trials;

/// <summary>
/// The real device under test: the configuration's back-end as its own process (perflab-backend
/// with --drop-when-full, or testpmd), and PerfLab's load generator in this process, connected
/// once per visit. Every trial runs on that one connection through <see cref="TrialRunner"/>
/// on the calling thread (the caller pins it to <see cref="BackendLauncher.LoadGenCpu"/>): the
/// rate, burst and in-flight cap are set per trial, and frames of an earlier trial that come
/// back late are stale, not received.
/// This file and <see cref="DensityTrialTarget"/> are the only ones of the bench that know the
/// load generator's API.
/// <para>
/// Loss: the guest never drops (a burst the rings cannot take waits, and goes late or, once the
/// window has closed, never), and every frame the schedule offered that is not back by the end
/// of the drain is lost. The lossy open loop (frames that find no room dropped) loses a few per
/// cent to a full TX ring at any load on a shared 2-vCPU VM, which would put every NDR near zero.
/// </para>
/// </summary>
public sealed class LoadGenTrialTarget : ITrialTarget
{
    internal const double DrainS = 0.05;

    private readonly IBackendUnderTest _backend;
    private readonly string _dir;
    private readonly LoadGenerator _gen;
    private readonly TrialRunner _runner;

    private LoadGenTrialTarget(IBackendUnderTest backend, string dir, LoadGenerator gen)
    {
        _backend = backend;
        _dir = dir;
        _gen = gen;
        _runner = new TrialRunner(gen) { GapS = 0, DrainTimeoutS = DrainS };
    }

    /// <summary>Starts the back-end of <paramref name="c"/> (extra back-end arguments appended)
    /// and connects the guest.</summary>
    public static LoadGenTrialTarget Open(BenchConfiguration c, IReadOnlyList<string> extraBackendArgs, PollMode? backendPollOverride)
    {
        string dir = Directory.CreateTempSubdirectory("plt-").FullName;
        IBackendUnderTest? backend = null;
        LoadGenerator? gen = null;
        try
        {
            string sock = Path.Combine(dir, "vhost.sock");
            var args = new List<string> { "--drop-when-full" };
            args.AddRange(c.BackendArgs);
            args.AddRange(extraBackendArgs);
            backend = BackendLauncher.Start(c.Peer, backendPollOverride ?? c.BackendPoll, sock, dir, c.Pairs, args);
            gen = new LoadGenerator(GuestOptions(c, sock, backend));
            gen.Setup();
            backend.OnDeviceReady();
            return new LoadGenTrialTarget(backend, dir, gen);
        }
        catch
        {
            Close(gen, backend, dir);
            throw;
        }
    }

    /// <summary>The back-end's stats socket (null for testpmd): what a test reads its sessions from.</summary>
    public string? BackendStatsSocket => _backend.StatsSocket;

    public TrialOutcome Run(double ratePps, double durationS) => Outcome(_runner.Run(new TrialSpec(ratePps, durationS)));

    public TrialOutcome PingPong(double durationS) => Outcome(_runner.PingPong(durationS));

    /// <summary>A trial's figures as the bench keeps them (both trial targets).</summary>
    internal static TrialOutcome Outcome(TrialResult r) => new()
    {
        IntendedPps = r.IntendedPps,
        DurationS = r.WindowS,
        Offered = r.Offered,
        Received = r.Received,
        // Without drops at the guest, what did not go out is either the rings' back-pressure or
        // the generator's pace: the two are not told apart.
        TxDropped = -1,
        GeneratorShortfall = -1,
        BackendDropped = r.BackendDropped,
        Latency = r.Histogram,
        BackendCpuNs = r.BackendCpuNs >= 0 ? r.BackendCpuNs : double.NaN,
        BackendIntervalNs = r.BackendIntervalNs > 0 ? r.BackendIntervalNs : r.IntervalS * 1e9,
        LoadgenProcessCpuNs = r.LoadgenCpuNs,
        LoadgenThreadCpuNs = r.LoadgenThreadCpuNs,
        LoadgenWaitNs = Known(r.LoadgenThreadWaitNs),
        BackendWaitNs = Known(r.BackendWaitNs),
        Kicks = r.Kicks,
        Calls = r.CallsReceived,
        Errors = r.Errors,
        GuestPoll = r.GuestPoll,
        BackendPoll = r.BackendPoll,
        BackendWakeups = r.BackendWakeups,
    };

    private static double Known(long ns) => ns >= 0 ? ns : double.NaN;

    /// <summary>A guest of <paramref name="c"/> on <paramref name="socket"/> against <paramref name="backend"/>:
    /// the options every bench trial target starts from.</summary>
    public static LoadGenOptions GuestOptions(BenchConfiguration c, string socket, IBackendUnderTest backend) => new()
    {
        SocketPath = socket,
        FrameSize = c.FrameSize,
        QueueSize = c.QueueSize,
        Burst = c.Burst,
        Packed = c.Ring == RingLayout.Packed,
        Queues = c.Pairs,
        Mergeable = c.Mergeable,
        Poll = new PollOptions { Mode = c.GuestPoll, HybridNaps = c.GuestNaps, HybridNapUs = c.GuestNapUs },
        BackendStatsSocket = backend.StatsSocket,
        BackendPid = backend.StatsSocket is null ? backend.Pid : 0,
        BackendLabel = backend.Label,
        ConnectTimeoutS = 30,
        DrainTimeoutS = DrainS,
    };

    public void Dispose() => Close(_gen, _backend, _dir);

    private static void Close(LoadGenerator? gen, IBackendUnderTest? backend, string dir)
    {
        if (gen != null)
        {
            try
            {
                gen.Teardown();
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                // the back-end may already have ended the session, or set-up failed half-way
            }
            gen.Dispose();
        }
        backend?.Dispose();
        try
        {
            Directory.Delete(dir, recursive: true);
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

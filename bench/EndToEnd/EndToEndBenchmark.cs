using BenchmarkDotNet.Attributes;
using HdrHistogram;
using PerfLab.LoadGen;
using PerfLab.LoadGen.Guest;
using PerfLab.LoadGen.Measurement;
using PerfLab.LoadGen.Results;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench.EndToEnd;

/// <summary>
/// End to end: the back-end as its own process (data plane on CPU 1), started and stopped by
/// global setup and cleanup; the load generator in this process (CPU 0). One invocation moves
/// a fixed number of frames, so the mean is nanoseconds per frame: <see cref="FramesPerInvoke"/>
/// unthrottled (<see cref="MoveFrames"/>), <see cref="ThrottledFramesPerInvoke"/> at a throttled
/// load (<see cref="MoveFramesAtRate"/>, where an iteration lasts frames ÷ rate). Each iteration
/// resets the latency histogram and snapshots CPU and counters around the invocation; the
/// host keeps the measured iterations only (see <see cref="SideData"/>).
/// <para>
/// The parameter space is the full matrix; a profile (<see cref="Profiles"/>) filters it.
/// A new dimension (ring type, queue pairs, mergeable buffers) is one more property with a
/// Params attribute, one more LoadGenOptions field below, and a line in Profiles.
/// </para>
/// </summary>
/// <summary>Ring layout of an end-to-end case.</summary>
public enum RingLayout
{
    Split,
    Packed,
}

/// <summary>Everything about a case's data path that its maximum rate depends on.</summary>
public readonly record struct DataPath(int FrameSize, int QueueSize, int Burst, RingLayout Ring, int Pairs, bool Mergeable);

[BenchmarkCategory(Categories.EndToEnd)]
public class EndToEndBenchmark
{
    public const int FramesPerInvoke = 1_000_000;
    public const int ThrottledFramesPerInvoke = 100_000;

    /// <summary>An invocation that has not moved its frames by then is cut short and flagged:
    /// this long unthrottled, or this many times its expected duration when throttled.</summary>
    private const double DeadlineS = 60;
    private const double ThrottledDeadlineFactor = 4;

    private IBackendUnderTest? _backend;
    private LoadGenerator? _gen;
    private TrafficEngine? _engine;
    private string _dir = "";
    private MeasurementWindow? _begin;
    private long _target;
    private long _beginMs;
    private long _deadlineTicks;
    private readonly ulong[] _affinity = new ulong[16];
    private bool _pinned;
    private readonly List<IterationRecord> _records = [];
    private readonly List<HistogramBase> _histograms = [];
    private SideDataFile _file = new();
    private DateTime _started;

    /// <summary>The back-end implementation.</summary>
    [ParamsAllValues]
    public Peer Peer { get; set; }

    /// <summary>The back-end's wait strategy (testpmd always busy-polls).</summary>
    [ParamsAllValues]
    public PollMode BackendPoll { get; set; }

    /// <summary>The guest's wait strategy (the load generator's traffic loop).</summary>
    [ParamsAllValues]
    public PollMode GuestPoll { get; set; }

    [Params(64, 512, 1500)]
    public int FrameSize { get; set; }

    [Params(256, 1024)]
    public int QueueSize { get; set; }

    /// <summary>Frames per publish (at most one kick per burst).</summary>
    [Params(1, 32)]
    public int Burst { get; set; }

    /// <summary>Offered load in % of the run's measured maximum; 100 = unthrottled.</summary>
    [Params(10, 25, 50, 75, 90, 100)]
    public int Load { get; set; }

    /// <summary>Split or packed virtqueues (VIRTIO_F_RING_PACKED).</summary>
    [ParamsAllValues]
    public RingLayout Ring { get; set; }

    /// <summary>Queue pairs carrying traffic (one back-end worker serves them all, and one
    /// load-generator thread drives them all: never more than two spinners).</summary>
    [Params(1, 2)]
    public int Pairs { get; set; }

    /// <summary>MRG_RXBUF negotiated (RX buffers hold a whole frame, so one buffer each).</summary>
    [ParamsAllValues]
    public bool Mergeable { get; set; }

    /// <summary>The data-path shape this case runs (what the maximum rate depends on).</summary>
    public DataPath Variant => new(FrameSize, QueueSize, Burst, Ring, Pairs, Mergeable);

    [GlobalSetup]
    public void Setup()
    {
        _started = DateTime.UtcNow;
        _dir = Directory.CreateTempSubdirectory("plb-").FullName;
        string sock = Path.Combine(_dir, "vhost.sock");
        double rate = Load >= 100 ? 0 : MaxRates.Get(SideData.RunDir, Variant) * Load / 100.0;
        _backend = BackendLauncher.Start(Peer, BackendPoll, sock, _dir, Pairs);
        _gen = new LoadGenerator(new LoadGenOptions
        {
            SocketPath = sock,
            FrameSize = FrameSize,
            QueueSize = QueueSize,
            Burst = Burst,
            Packed = Ring == RingLayout.Packed,
            Queues = Pairs,
            Mergeable = Mergeable,
            RatePps = rate,
            Poll = new PollOptions { Mode = GuestPoll },
            BackendStatsSocket = _backend.StatsSocket,
            BackendPid = _backend.StatsSocket is null ? _backend.Pid : 0,
            BackendLabel = _backend.Label,
            ConnectTimeoutS = 30,
        });
        _gen.Setup();
        _backend.OnDeviceReady();
        _engine = _gen.Engine!;
        SaveAffinity();
        _pinned = Affinity.PinCurrentThread(BackendLauncher.LoadGenCpu);
        Affinity.SetTimerSlack(1000);
        double seconds = rate > 0 ? Math.Max(10, ThrottledDeadlineFactor * ThrottledFramesPerInvoke / rate) : DeadlineS;
        _deadlineTicks = (long)(seconds * Clock.TicksPerSecond);
        _file = new SideDataFile { Key = SideData.KeyOf(this), Pid = Environment.ProcessId, StartedUtc = _started, OfferedPps = rate };
    }

    [IterationSetup]
    public void BeginIteration()
    {
        TrafficEngine e = _engine!;
        e.Sending = true;
        e.Histogram.Reset();
        _beginMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        _begin = MeasurementWindow.Begin(_gen!);
        _target = e.C.Received + (Load < 100 ? ThrottledFramesPerInvoke : FramesPerInvoke);
        e.StartSchedule();
        e.Measuring = true;
    }

    /// <summary>Unthrottled (Load = 100): as fast as the pair goes.</summary>
    [Benchmark(OperationsPerInvoke = FramesPerInvoke)]
    public void MoveFrames() => _engine!.RunUntilReceived(_target, Clock.Now() + _deadlineTicks);

    /// <summary>Throttled (Load &lt; 100): the open-loop schedule sets the pace.</summary>
    [Benchmark(OperationsPerInvoke = ThrottledFramesPerInvoke)]
    public void MoveFramesAtRate() => _engine!.RunUntilReceived(_target, Clock.Now() + _deadlineTicks);

    /// <summary>True for the method that serves the case's load; the other pairing is skipped.</summary>
    public static bool MethodFits(string method, int load) => method == (load < 100 ? nameof(MoveFramesAtRate) : nameof(MoveFrames));

    [IterationCleanup]
    public void EndIteration()
    {
        TrafficEngine e = _engine!;
        e.Measuring = false;
        MeasurementWindow end = MeasurementWindow.End(_gen!);
        MeasurementWindow begin = _begin!;
        HistogramBase h = e.Histogram.Copy();
        int index = _records.Count;
        h.Tag = index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        h.StartTimeStamp = _beginMs;
        h.EndTimeStamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        _histograms.Add(h);
        EngineCounters a = begin.C, b = end.C;
        _records.Add(new IterationRecord
        {
            Index = index,
            Missing = Math.Max(0, _target - b.Received),
            Errors = (b.SeqErrors - a.SeqErrors) + (b.BadLength - a.BadLength) + (b.Corrupt - a.Corrupt) + (b.BadIds - a.BadIds) + (b.Unswapped - a.Unswapped),
            Result = ResultBuilder.Build(_gen!, begin, end) with { LatencyPercentiles = [] },
            BackendCpuNs = begin.Backend is { } sa && end.Backend is { } sb ? sb.CpuNs - sa.CpuNs : -1,
            BackendIntervalNs = begin.Backend is { } ta && end.Backend is { } tb ? tb.TimestampNs - ta.TimestampNs : -1,
        });
        e.Drain(5); // start the next iteration from empty rings; not measured
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        try
        {
            if (SideData.RunDir is { } dir)
            {
                SideData.Write(dir, _file with { Iterations = _records }, _histograms);
            }
            _gen?.Teardown();
        }
        finally
        {
            _gen?.Dispose();
            _backend?.Dispose();
            Directory.Delete(_dir, recursive: true);
            RestoreAffinity();
        }
    }

    // In process (--inProcess) this thread runs the next case and its back-end inherits the
    // thread's CPU set: put it back as it was.
    private unsafe void SaveAffinity()
    {
        fixed (ulong* m = _affinity)
        {
            _ = LibC.sched_getaffinity(0, _affinity.Length * sizeof(ulong), m);
        }
    }

    private unsafe void RestoreAffinity()
    {
        if (_pinned)
        {
            fixed (ulong* m = _affinity)
            {
                _ = LibC.sched_setaffinity(0, _affinity.Length * sizeof(ulong), m);
            }
        }
    }
}

/// <summary>BenchmarkDotNet categories of the suite.</summary>
public static class Categories
{
    public const string EndToEnd = "EndToEnd";
    public const string Micro = "Micro";
}

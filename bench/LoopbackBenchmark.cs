using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using PerfLab.LoadGen;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench;

/// <summary>
/// End to end: the back-end daemon as its own process (pinned to CPU 1), the load generator
/// in this process (CPU 0). One invocation moves <see cref="Frames"/> frames, so the mean is
/// nanoseconds per frame.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 2, iterationCount: 5)]
public class LoopbackBenchmark
{
    private const int Frames = 1_000_000;
    private Process? _backend;
    private LoadGenerator? _gen;
    private string _dir = "";

    [Params(64)]
    public int FrameSize { get; set; }

    [Params(1, 32)]
    public int Burst { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _dir = Directory.CreateTempSubdirectory("plb-").FullName;
        string sock = Path.Combine(_dir, "vhost.sock");
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "perflab-backend.dll"));
        foreach (string a in new[] { "--socket", sock, "--cpus", "1", "--stats-interval", "0", "--quiet" })
        {
            psi.ArgumentList.Add(a);
        }
        _backend = Process.Start(psi);
        _gen = new LoadGenerator(new LoadGenOptions
        {
            SocketPath = sock,
            FrameSize = FrameSize,
            Burst = Burst,
            Poll = new PollOptions { Mode = PollMode.Busy },
            ConnectTimeoutS = 30,
        });
        _gen.Setup();
        Affinity.PinCurrentThread(0);
    }

    [Benchmark(OperationsPerInvoke = Frames)]
    public void MoveFrames()
    {
        var e = _gen!.Engine!;
        e.RunUntilReceived(e.C.Received + Frames, Clock.Now() + 60 * Clock.TicksPerSecond);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _gen?.Dispose();
        if (_backend is { HasExited: false })
        {
            _backend.Kill();
            _backend.WaitForExit(5000);
        }
        Directory.Delete(_dir, recursive: true);
    }
}

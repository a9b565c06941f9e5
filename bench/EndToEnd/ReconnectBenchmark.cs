using System.ComponentModel;
using BenchmarkDotNet.Attributes;
using PerfLab.Bench.Method;
using PerfLab.Bench.Micro;
using PerfLab.LoadGen;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench.EndToEnd;

/// <summary>
/// Reconnect time, from the front-end's restart to the first frame forwarded: one invocation
/// closes the vhost-user connection with the guest's rings full of traffic, connects again,
/// replays the whole handshake (features, memory table, rings resuming at the guest's used
/// positions) and runs until a frame has come back through the back-end. The back-end keeps
/// running as its own process throughout, as it does when QEMU restarts. Runs with the micro
/// job (each invocation is milliseconds); nothing busy-polls while it waits.
/// </summary>
[MemoryDiagnoser]
[BenchmarkCategory(Categories.Micro)]
public class ReconnectBenchmark
{
    private IBackendUnderTest? _backend;
    private LoadGenerator? _gen;
    private string _dir = "";

    /// <summary>Split or packed rings: packed rings resume from a wrap-encoded base.</summary>
    [ParamsAllValues]
    public RingLayout Ring { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _dir = Directory.CreateTempSubdirectory("plr-").FullName;
        string sock = Path.Combine(_dir, "vhost.sock");
        _backend = BackendLauncher.Start(Peer.PerfLab, PollMode.Interrupt, sock, _dir);
        _gen = new LoadGenerator(new LoadGenOptions
        {
            SocketPath = sock,
            Packed = Ring == RingLayout.Packed,
            Poll = new PollOptions { Mode = PollMode.Interrupt },
            ConnectTimeoutS = 30,
            DrainTimeoutS = 1,
        });
        _gen.Setup();
        _backend.OnDeviceReady();
    }

    [Benchmark]
    [Description("front-end restart to first frame forwarded: close, reconnect, full handshake, rings resume, one frame back (back-end process keeps running)")]
    public double ReconnectToFirstFrame() => _gen!.ReconnectAndTime();

    [GlobalCleanup]
    public void Cleanup()
    {
        _gen?.Dispose();
        _backend?.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

using PerfLab.Backend.Devices;
using PerfLab.Backend.Logging;
using PerfLab.Backend.Server;
using PerfLab.Vhost.Polling;

namespace PerfLab.Tests.Infrastructure;

/// <summary>
/// A back-end server running in this process on its own thread, over a real UNIX socket in a
/// temp dir. Uses a sleeping strategy by default: tests never spin two busy-pollers on a
/// 2-core box.
/// </summary>
public sealed class InProcessBackend : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly Thread _thread;

    public InProcessBackend(NetDeviceOptions? device = null, Func<BackendOptions, BackendOptions>? configure = null)
    {
        Log.Quiet = true;
        var o = new BackendOptions
        {
            SocketPath = _dir.File("vhost.sock"),
            StatsInterval = 0,
            Device = device ?? new NetDeviceOptions { MaxQueuePairs = 2, Poll = new PollOptions { Mode = PollMode.Interrupt } },
        };
        if (configure != null)
        {
            o = configure(o);
        }
        Options = o;
        Server = new VhostUserServer(o);
        _thread = new Thread(() => Server.Run()) { IsBackground = true, Name = "in-process-backend" };
        _thread.Start();
    }

    /// <summary>The first device's socket (the only one unless configured otherwise).</summary>
    public string SocketPath => Options.SocketPath;

    public BackendOptions Options { get; }

    public VhostUserServer Server { get; }

    public TempDir Dir => _dir;

    public void Dispose()
    {
        Server.Stop();
        if (!_thread.Join(Timeouts.Short))
        {
            throw new TimeoutException("in-process back-end did not stop");
        }
        Server.Dispose();
        _dir.Dispose();
    }
}

using PerfLab.Backend.Devices;

namespace PerfLab.Backend.Server;

/// <summary>Daemon settings: the devices' sockets, mode of connection, workers, stats, and the
/// devices' options (every device gets the same).</summary>
public sealed record BackendOptions
{
    /// <summary>One socket file per device, in device order (docs/stats.md names device d after
    /// its place here).</summary>
    public IReadOnlyList<string> SocketPaths { get; init; } = ["/tmp/perflab-vhost.sock"];

    /// <summary>The first device's socket; setting it makes a one-device back-end.</summary>
    public string SocketPath
    {
        get => SocketPaths[0];
        init => SocketPaths = [value];
    }

    /// <summary>Socket of device <paramref name="d"/> when the sockets are given as a folder
    /// and a count (<c>--sockets DIR --devices N</c>).</summary>
    public static string SocketInFolder(string dir, int d) => Path.Combine(dir, $"vhost-{d}.sock");

    /// <summary>Connect to a listening front-end (client mode) instead of listening.</summary>
    public bool Client { get; init; }

    /// <summary>Permissions of the listening socket (octal 600 by default).</summary>
    public Mono.Unix.Native.FilePermissions SocketMode { get; init; } =
        Mono.Unix.Native.FilePermissions.S_IRUSR | Mono.Unix.Native.FilePermissions.S_IWUSR;

    public TimeSpan ReconnectMin { get; init; } = TimeSpan.FromMilliseconds(10);
    public TimeSpan ReconnectMax { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A new connection must send its first message within this time (0: no limit).</summary>
    public TimeSpan FirstMessageTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Once a message has started, the rest of it must arrive within this time.</summary>
    public TimeSpan MidMessageTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A reply the front-end does not read within this time ends its session (0: no limit).</summary>
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Worker threads shared by every device (0: one per
    /// <see cref="NetDeviceOptions.PairsPerWorker"/> queue pairs of one device).</summary>
    public int Workers { get; init; }

    /// <summary>Pins queue pairs to workers, as OVS's pmd-rxq-affinity: (device, pair) to worker.
    /// The other pairs are dealt round-robin.</summary>
    public IReadOnlyDictionary<(int Device, int Pair), int> QueueAffinity { get; init; } = new Dictionary<(int, int), int>();

    /// <summary>Seconds between stats lines on stdout (0: none).</summary>
    public double StatsInterval { get; init; } = 1;

    public string? StatsSocket { get; init; }

    public string? StatsJson { get; init; }

    /// <summary>Exit after this many sessions, all devices together (0: serve forever). Tests and scripts.</summary>
    public int MaxSessions { get; init; }

    public NetDeviceOptions Device { get; init; } = new();
}

using PerfLab.Backend.Devices;

namespace PerfLab.Backend.Server;

/// <summary>Daemon settings: socket, mode of connection, stats, and the device's options.</summary>
public sealed record BackendOptions
{
    public string SocketPath { get; init; } = "/tmp/perflab-vhost.sock";

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

    /// <summary>Seconds between stats lines on stdout (0: none).</summary>
    public double StatsInterval { get; init; } = 1;

    public string? StatsSocket { get; init; }

    public string? StatsJson { get; init; }

    /// <summary>Exit after this many sessions (0: serve forever). Tests and scripts.</summary>
    public int MaxSessions { get; init; }

    public NetDeviceOptions Device { get; init; } = new();
}

using PerfLab.Backend.Rings;
using PerfLab.Vhost.Memory;

namespace PerfLab.Backend.Devices;

/// <summary>
/// What the control plane needs from a device. The handler negotiates, maps memory and
/// configures vrings; the device runs them. Every change to rings or memory happens between
/// <see cref="Pause"/> and <see cref="Resume"/>, so the data plane never sees a half-made
/// change and never touches memory that is being unmapped.
/// </summary>
public interface IVhostDevice : IDisposable
{
    /// <summary>Virtio feature bits offered in GET_FEATURES (including PROTOCOL_FEATURES).</summary>
    ulong OfferedFeatures { get; }

    /// <summary>Protocol feature bits offered in GET_PROTOCOL_FEATURES.</summary>
    ulong OfferedProtocolFeatures { get; }

    /// <summary>Queue pairs (for net, GET_QUEUE_NUM is read as pairs).</summary>
    int MaxQueuePairs { get; }

    /// <summary>Takes the device's queues out of the data plane at a round boundary and waits
    /// until no worker touches them (other devices' queues keep running).</summary>
    void Pause();

    /// <summary>Hands the workers the queues <paramref name="view"/> makes active.</summary>
    void Resume(DeviceView view);

    /// <summary>DEVICE_NEEDS_RESET: raised when a ring is found broken (sticky until reset).</summary>
    FaultFlag NeedsReset { get; }
}

/// <summary>An immutable view of what the data plane should run, built by the handler.</summary>
public sealed class DeviceView
{
    public static readonly DeviceView Idle = new()
    {
        Memory = GuestMemory.Empty,
        Vrings = [],
    };

    public required GuestMemory Memory { get; init; }

    /// <summary>All rings (index = ring number); workers pick the active ones.</summary>
    public required IReadOnlyList<Vring> Vrings { get; init; }

    public ulong AckedFeatures { get; init; }

    /// <summary>The dirty log while LOG_ALL is acked and SET_LOG_BASE was given, else null.</summary>
    public DirtyLog? Log { get; init; }

    /// <summary>MAC address for which to inject one RARP on pair 0's RX (SEND_RARP). Carried by
    /// one view only; the worker keeps it until the frame is sent.</summary>
    public byte[]? RarpMac { get; init; }

    /// <summary>MTU from NET_SET_MTU (0: not set).</summary>
    public uint Mtu { get; init; }
}

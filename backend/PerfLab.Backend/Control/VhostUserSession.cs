using Microsoft.Extensions.Logging;
using PerfLab.Backend.Devices;
using PerfLab.Backend.Logging;
using PerfLab.Backend.Rings;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;

namespace PerfLab.Backend.Control;

/// <summary>
/// One front-end connection's control plane: everything negotiated on it (features, protocol
/// features, ownership, status, memory table, rings, dirty log, MTU) in one object, and the
/// only way to change what the data plane runs (<see cref="Reconfigure"/>: pause, change,
/// resume). Requests reach it through its <see cref="RequestDispatcher"/>, which hands each to
/// a controller (features, memory, vrings, dirty log, device status). Many devices are many
/// sessions; the device behind a session never sees its socket.
/// </summary>
public sealed class VhostUserSession : IDisposable
{
    private readonly RequestDispatcher _dispatcher;
    private bool _disposed;

    public VhostUserSession(IVhostDevice device, Vring[] vrings, ILogger? logger = null)
    {
        Device = device;
        Logger = logger ?? Log.Default;
        Vrings = vrings;
        MaxRings = Math.Min(vrings.Length, 2 * device.MaxQueuePairs);
        _dispatcher = new RequestDispatcher(this);
    }

    internal IVhostDevice Device { get; }

    /// <summary>Where this session's records go (named after its device when there are several).</summary>
    internal ILogger Logger { get; }

    internal Vring[] Vrings { get; }

    /// <summary>Rings this device has: two per queue pair.</summary>
    internal int MaxRings { get; }

    internal MemoryTable MemoryTable { get; } = new();

    // ---- negotiated state (controllers write it, tests and stats read it) -------------------

    public ulong AckedFeatures { get; internal set; }

    /// <summary>SET_FEATURES was received since the session started or was reset.</summary>
    internal bool FeaturesSet { get; set; }

    public ulong AckedProtocolFeatures { get; internal set; }

    /// <summary>SET_OWNER was received (the session has started).</summary>
    public bool HasOwner { get; internal set; }

    public byte Status { get; internal set; }

    public GuestMemory Memory => MemoryTable.Current;

    /// <summary>MTU set by NET_SET_MTU (0: never set).</summary>
    public uint Mtu { get; internal set; }

    /// <summary>The dirty log mapped by SET_LOG_BASE (null: none).</summary>
    public DirtyLog? DirtyLog { get; internal set; }

    /// <summary>SET_LOG_FD's eventfd, kept for the session (-1: none).</summary>
    internal int LogFd { get; set; } = -1;

    /// <summary>SET_BACKEND_REQ_FD's socket, kept for the session (-1: none).</summary>
    internal int BackendReqFd { get; set; } = -1;

    /// <summary>A SEND_RARP MAC not yet handed to the data path (pair 0 not running yet).</summary>
    internal byte[]? PendingRarp { get; set; }

    /// <summary>Memory-table changes applied (SET_MEM_TABLE remaps, ADD/REM_MEM_REG).</summary>
    public int MemoryChanges { get; internal set; }

    /// <summary>Requests handled and rejected on this connection.</summary>
    public int Handled => _dispatcher.Handled;

    public int Rejected => _dispatcher.Rejected;

    /// <summary>Handles one message and sends its reply, if any (see <see cref="RequestDispatcher.Handle"/>).</summary>
    public void Handle(ReceivedMessage msg, IMessageSender channel) => _dispatcher.Handle(msg, channel);

    // ---- helpers the controllers share -------------------------------------------------------

    internal bool HasProtocol(ulong bit) => (AckedProtocolFeatures & bit) != 0;

    /// <summary>Refuses <paramref name="r"/> unless protocol feature <paramref name="name"/> was negotiated.</summary>
    internal void Require(VhostUserRequest r, ulong protocolBit, string name)
    {
        if (!HasProtocol(protocolBit))
        {
            throw new VhostProtocolException(r, "protocol features", AckedProtocolFeatures, $"needs {name} to be negotiated first");
        }
    }

    /// <summary>The ring a request names, or a rejection naming the valid range.</summary>
    internal Vring Ring(VhostUserRequest r, uint index)
    {
        if (index >= (uint)MaxRings)
        {
            throw new VhostProtocolException(r, "index", index, $"rings are 0..{MaxRings - 1} ({Device.MaxQueuePairs} queue pairs)");
        }
        return Vrings[index];
    }

    internal bool AnyStarted()
    {
        for (int i = 0; i < MaxRings; i++)
        {
            if (Vrings[i].Started)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Pauses the device, applies <paramref name="change"/>, resumes with the new view.
    /// The device resumes even if the change throws, with whatever state is consistent.</summary>
    internal void Reconfigure(Action? change)
    {
        Device.Pause();
        try
        {
            change?.Invoke();
        }
        finally
        {
            Device.Resume(BuildView());
            MemoryTable.ReleaseRetired();
            if (PendingRarp != null && Vrings[0].IsActive && Vrings[1].IsActive)
            {
                PendingRarp = null; // handed over: the worker keeps it until it is sent
            }
        }
    }

    private DeviceView BuildView() => new()
    {
        Memory = MemoryTable.Current,
        Vrings = Vrings,
        AckedFeatures = AckedFeatures,
        // Device writes are logged while LOG_ALL is acked and a log is mapped
        // (docs/protocol.md#dirty-log).
        Log = VirtioFeatures.Has(AckedFeatures, VirtioFeatures.LogAll) ? DirtyLog : null,
        RarpMac = PendingRarp,
        Mtu = Mtu,
    };

    /// <summary>Unmaps the dirty log and closes its fd.</summary>
    internal void DropDirtyLog()
    {
        DirtyLog?.Dispose();
        DirtyLog = null;
        LibC.CloseQuietly(LogFd);
        LogFd = -1;
    }

    /// <summary>Ends the session: stops the data plane before unmapping, closes every fd the
    /// front-end gave us, forgets all negotiated state
    /// (docs/protocol.md#disconnect-and-reconnect).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        Device.Pause();
        for (int i = 0; i < Vrings.Length; i++)
        {
            Vrings[i].ResetConfig();
        }
        MemoryTable.Clear();
        Device.Resume(DeviceView.Idle);
        MemoryTable.Dispose();
        DropDirtyLog();
        LibC.CloseQuietly(BackendReqFd);
        BackendReqFd = -1;
        Device.NeedsReset.Clear();
    }
}

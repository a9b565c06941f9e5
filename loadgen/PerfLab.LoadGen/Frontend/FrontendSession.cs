using PerfLab.LoadGen.Guest;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;

namespace PerfLab.LoadGen.Frontend;

/// <summary>
/// The front-end's side of one connection to a back-end, as QEMU or DPDK's virtio-user plays
/// it: opening (connect, or listen for a back-end in client mode), negotiation, the handshake
/// in QEMU's or DPDK's order (<see cref="HandshakeOrder"/>), the memory table, and stopping
/// the device. The guest (<see cref="GuestNic"/>) it describes to the back-end is created
/// during the first handshake, once the features are known, and outlives reconnections.
/// </summary>
public sealed class FrontendSession : IDisposable
{
    private readonly LoadGenOptions _o;
    private VhostUserFrontend? _fe;
    private int _backendReqPeer = -1;

    public FrontendSession(LoadGenOptions options) => _o = options;

    public ulong AckedFeatures { get; private set; }

    public ulong AckedProtocolFeatures { get; private set; }

    /// <summary>Clock tick when the connection was last opened.</summary>
    public long ConnectTick { get; private set; }

    public VhostUserFrontend Frontend => _fe ?? throw new InvalidOperationException("not connected");

    public bool Connected => _fe != null;

    /// <summary>Log of what the handshake did (for --verbose and tests).</summary>
    public Action<string>? Trace { get; set; }

    public bool Has(ulong protocolBit) => (AckedProtocolFeatures & protocolBit) != 0;

    private int Rings => 2 * _o.Queues;

    /// <summary>Opens the connection: connects, or listens until a back-end in client mode connects.</summary>
    public void Open()
    {
        var timeout = TimeSpan.FromSeconds(_o.ConnectTimeoutS);
        ConnectTick = Clock.Now();
        _fe = _o.Listen ? VhostUserFrontend.Accept(_o.SocketPath, timeout) : VhostUserFrontend.Connect(_o.SocketPath, timeout);
    }

    /// <summary>Closes the connection (the guest keeps running).</summary>
    public void Close()
    {
        _fe?.Dispose();
        _fe = null;
        LibC.CloseQuietly(_backendReqPeer);
        _backendReqPeer = -1;
    }

    /// <summary>
    /// Negotiates and starts the device in the configured order. With <paramref name="guest"/>
    /// null (the first handshake) the guest is created once the features are known; otherwise
    /// its rings resume where they are (<see cref="GuestNic.RestartBase"/>).
    /// <paramref name="logRings"/>: dirty logging is on, so every ring carries the log flag.
    /// </summary>
    public GuestNic Handshake(GuestNic? guest, bool logRings = false) =>
        _o.Order == HandshakeOrder.Dpdk ? DpdkOrder(guest, logRings) : QemuOrder(guest, logRings);

    private void Negotiate()
    {
        VhostUserFrontend fe = Frontend;
        ulong offered = fe.GetFeatures();
        if ((offered & VirtioFeatures.Version1) == 0)
        {
            throw new IOException($"back-end does not offer VERSION_1 (offered {VirtioFeatures.Describe(offered)})");
        }
        AckedProtocolFeatures = 0;
        if ((offered & VirtioFeatures.ProtocolFeatures) != 0)
        {
            ulong p = fe.GetProtocolFeatures();
            AckedProtocolFeatures = p & FeatureRequest.Protocol(_o);
            fe.SetProtocolFeatures(AckedProtocolFeatures);
        }
        ulong missing = FeatureRequest.RequiredProtocol(_o) & ~AckedProtocolFeatures;
        if (missing != 0)
        {
            throw new IOException($"the options asked need protocol features the back-end does not offer: {ProtocolFeatures.Describe(missing)}");
        }
        if (_o.DirtyLog && (offered & VirtioFeatures.LogAll) == 0)
        {
            throw new IOException("dirty logging asked, but the back-end does not offer LOG_ALL");
        }
        AckedFeatures = FeatureRequest.Features(_o) & offered;
        if (_o.Queues > 1 && (AckedFeatures & VirtioFeatures.NetMq) == 0)
        {
            throw new IOException($"{_o.Queues} queue pairs asked, but the back-end does not offer MQ");
        }
        if (Has(ProtocolFeatures.ConfigureMemSlots))
        {
            ulong slots = fe.GetMaxMemSlots();
            int regions = _o.Regions + (_o.RemapIntervalMs > 0 ? 1 : 0);
            if ((ulong)regions > slots)
            {
                throw new IOException($"{regions} memory regions asked, but the back-end has {slots} slots (GET_MAX_MEM_SLOTS)");
            }
        }
        else if (_o.Regions > MemoryTableHeader.MaxRegions)
        {
            throw new IOException($"{_o.Regions} regions need CONFIGURE_MEM_SLOTS, which this run did not negotiate");
        }
    }

    private GuestNic QemuOrder(GuestNic? guest, bool logRings)
    {
        VhostUserFrontend fe = Frontend;
        Negotiate();
        Trace?.Invoke($"features offered {VirtioFeatures.Describe(fe.BackendFeatures)}; acked {VirtioFeatures.Describe(AckedFeatures)}; protocol {ProtocolFeatures.Describe(AckedProtocolFeatures)}");
        if (Has(ProtocolFeatures.Mq))
        {
            ulong qn = fe.GetQueueNum();
            if (qn < (ulong)_o.Queues)
            {
                throw new IOException($"back-end serves {qn} queue pairs, {_o.Queues} asked");
            }
        }
        if (Has(ProtocolFeatures.BackendReq))
        {
            var (a, b) = UnixSocket.Pair();
            LibC.CloseQuietly(_backendReqPeer);
            _backendReqPeer = a;
            fe.SetBackendReqFd(b);
            LibC.close(b);
        }
        fe.SetOwner();
        fe.GetFeatures();
        GuestNic g = guest ?? GuestNic.Create(_o, AckedFeatures);
        for (int i = 0; i < Rings; i++)
        {
            fe.SetVringCall((uint)i, g.CallFd(i));
            fe.SetVringErr((uint)i, g.ErrFd(i));
        }
        // QEMU enables the first pair before features and ring setup and disables the others;
        // the guest picks its pair count after DRIVER_OK (VQ_PAIRS_SET), enabling them then.
        for (int i = 0; i < Rings; i++)
        {
            fe.SetVringEnable((uint)i, i < 2);
        }
        fe.SetFeatures(AckedFeatures);
        bool status = Has(ProtocolFeatures.Status);
        if (status)
        {
            fe.GetStatus();
            fe.SetStatus((ulong)(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk));
        }
        if (_o.Mtu > 0)
        {
            fe.NetSetMtu((ulong)_o.Mtu);
        }
        SendMemTable(g);
        for (int i = 0; i < Rings; i++)
        {
            SetupRing(g, i, logRings, callAgain: true);
        }
        if (status)
        {
            fe.GetStatus();
            fe.SetStatus((ulong)(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk));
        }
        for (int i = 2; i < Rings; i++)
        {
            fe.SetVringEnable((uint)i, true);
        }
        return g;
    }

    private GuestNic DpdkOrder(GuestNic? guest, bool logRings)
    {
        VhostUserFrontend fe = Frontend;
        fe.SetOwner();
        Negotiate();
        GuestNic g = guest ?? GuestNic.Create(_o, AckedFeatures);
        for (int i = 0; i < Rings; i++)
        {
            fe.SetVringCall((uint)i, g.CallFd(i));
        }
        fe.SetFeatures(AckedFeatures);
        bool status = Has(ProtocolFeatures.Status);
        if (status)
        {
            fe.SetStatus(0xb);
            fe.GetStatus();
        }
        if (_o.Mtu > 0)
        {
            fe.NetSetMtu((ulong)_o.Mtu);
        }
        SendMemTable(g);
        for (int i = 0; i < Rings; i++)
        {
            SetupRing(g, i, logRings, callAgain: false);
        }
        // virtio-user enables pair 0 before DRIVER_OK and the other pairs after it
        // (docs/protocol.md#what-dpdk-2211-virtio-user-sends).
        fe.SetVringEnable(0, true);
        fe.SetVringEnable(1, true);
        if (status)
        {
            fe.SetStatus(0xf);
        }
        for (int i = 2; i < Rings; i++)
        {
            fe.SetVringEnable((uint)i, true);
        }
        return g;
    }

    /// <summary>The memory table: SET_MEM_TABLE, or with CONFIGURE_MEM_SLOTS one ADD_MEM_REG per
    /// region (as QEMU does when that feature is negotiated).</summary>
    private void SendMemTable(GuestNic g)
    {
        if (Has(ProtocolFeatures.ConfigureMemSlots))
        {
            foreach (Memory.GuestRam.Region r in g.Ram.Regions)
            {
                Frontend.AddMemReg(r.Desc, r.Fd);
            }
            return;
        }
        var (regions, fds) = g.MemTable();
        Frontend.SetMemTable(regions, fds);
    }

    private void SetupRing(GuestNic g, int ring, bool log, bool callAgain)
    {
        VhostUserFrontend fe = Frontend;
        uint i = (uint)ring;
        fe.SetVringNum(i, (uint)_o.QueueSize);
        // A fresh ring starts at 0; a ring that ran under a previous connection resumes at its
        // used position (everything the old back-end completed).
        fe.SetVringBase(i, g.RestartBase(ring));
        fe.SetVringAddr(g.RingAddr(ring, log));
        fe.SetVringKick(i, g.KickFd(ring));
        if (callAgain)
        {
            fe.SetVringCall(i, g.CallFd(ring));
        }
    }

    /// <summary>Stops the device as QEMU does (status 0, GET_VRING_BASE per ring, disable).
    /// Returns the next avail index per ring.</summary>
    public uint[] Teardown()
    {
        if (_fe == null)
        {
            return [];
        }
        var bases = new uint[Rings];
        if (Has(ProtocolFeatures.Status))
        {
            _fe.SetStatus(0);
        }
        for (int i = 0; i < Rings; i++)
        {
            bases[i] = _fe.GetVringBase((uint)i);
        }
        for (int i = 0; i < Rings; i++)
        {
            _fe.SetVringEnable((uint)i, false);
        }
        return bases;
    }

    public void Dispose() => Close();
}

using System.Globalization;
using HdrHistogram;
using PerfLab.LoadGen.Frontend;
using PerfLab.LoadGen.Guest;
using PerfLab.LoadGen.Memory;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Net;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;
using PerfLab.Vhost.Virtq;

namespace PerfLab.LoadGen;

/// <summary>
/// Plays QEMU and the guest at once: creates memfd guest RAM, performs the front-end
/// handshake, lays out the rings, then runs the traffic engine and reports. Works unchanged
/// against PerfLab's back-end and DPDK's vhost PMD. Besides the plain run it can exercise the
/// rest of the protocol: ADD_MEM_REG tables, memory-table changes under traffic, dirty
/// logging, SEND_RARP, NET_SET_MTU, and reconnects that keep the guest running.
/// </summary>
public sealed unsafe class LoadGenerator : IDisposable
{
    private readonly LoadGenOptions _o;
    private GuestRam? _ram;
    private VhostUserFrontend? _fe;
    private PairDriver[] _pairs = [];
    private int _backendReqPeer = -1;
    private long _connectTick;
    private double _firstFrameMs = -1;
    private readonly List<double> _reconnectMs = [];

    // Memory-table changes under traffic (RemapIntervalMs).
    private int _remaps;
    private bool _splitLayout;
    private int _extraFd = -1;
    private byte* _extraHost;
    private bool _extraAdded;
    private const ulong ExtraRegionBytes = 1 << 20;

    // Dirty log (DirtyLog).
    private int _logFd = -1;
    private byte* _logMap;
    private ulong _logBytes;
    private (long Logged, long Expected, long Mismatches) _dirty = (-1, -1, -1);

    public LoadGenerator(LoadGenOptions options) => _o = options;

    public ulong AckedFeatures { get; private set; }
    public ulong AckedProtocolFeatures { get; private set; }
    public TrafficEngine? Engine { get; private set; }
    public VhostUserFrontend Frontend => _fe ?? throw new InvalidOperationException("not connected");
    public GuestRam Ram => _ram ?? throw new InvalidOperationException("not set up");
    public IReadOnlyList<PairDriver> Pairs => _pairs;

    /// <summary>Memory-table changes sent so far (RemapIntervalMs, or <see cref="ChangeMemoryTable"/>).</summary>
    public int MemoryRemaps => Volatile.Read(ref _remaps);

    /// <summary>Log of what the handshake did (for --verbose and tests).</summary>
    public Action<string>? Trace { get; set; }

    /// <summary>Features the guest wants, before intersecting with the back-end's offer.</summary>
    private ulong WantedFeatures =>
        VirtioFeatures.Version1 | VirtioFeatures.ProtocolFeatures
        | (_o.EventIdx ? VirtioFeatures.RingEventIdx : 0)
        | (_o.Mergeable ? VirtioFeatures.NetMrgRxbuf : 0)
        | (_o.Indirect ? VirtioFeatures.RingIndirectDesc : 0)
        | (_o.Packed ? VirtioFeatures.RingPacked : 0)
        // The guest's in-order reclaim is written for split rings only.
        | (_o.InOrder && !_o.Packed ? VirtioFeatures.InOrder : 0)
        | (_o.Mtu > 0 ? VirtioFeatures.NetMtu : 0)
        | (_o.Queues > 1 ? VirtioFeatures.NetMq : 0);

    private bool NeedsMemSlots => _o.MemSlots || _o.Regions > MemoryTableHeader.MaxRegions;

    /// <summary>Protocol features asked for; those a requested option needs are required.</summary>
    private ulong WantedProtocol =>
        ProtocolFeatures.Mq | ProtocolFeatures.ReplyAck | ProtocolFeatures.Status | ProtocolFeatures.BackendReq
        | RequiredProtocol;

    private ulong RequiredProtocol =>
        (NeedsMemSlots ? ProtocolFeatures.ConfigureMemSlots : 0)
        | (_o.ResetDevice ? ProtocolFeatures.ResetDevice : 0)
        | (_o.Mtu > 0 ? ProtocolFeatures.NetMtu : 0)
        | (_o.SendRarp ? ProtocolFeatures.Rarp : 0)
        | (_o.DirtyLog ? ProtocolFeatures.LogShmfd : 0);

    private bool Has(ulong protocolBit) => (AckedProtocolFeatures & protocolBit) != 0;

    /// <summary>Connects, negotiates and sets up every ring; traffic can start after this.</summary>
    public void Setup()
    {
        if (_o.DirtyLog && _o.IdentityGpa)
        {
            throw new ArgumentException("DirtyLog needs guest-physical addresses from 0x1_0000_0000 (not IdentityGpa): the bitmap covers every page below the top of RAM");
        }
        Open();
        Handshake(fresh: true);
        var engine = new TrafficEngine(_pairs, _o, VirtioFeatures.Has(AckedFeatures, VirtioFeatures.NetMrgRxbuf),
            VirtioFeatures.Has(AckedFeatures, VirtioFeatures.InOrder));
        Engine = engine;
        foreach (PairDriver p in _pairs)
        {
            if (!_o.TxOnly && p.PostAllRx())
            {
                EventFd.Signal(p.KickRx);
            }
        }
        AfterStart();
    }

    /// <summary>Opens the connection: connects, or listens until a back-end in client mode connects.</summary>
    private void Open()
    {
        var timeout = TimeSpan.FromSeconds(_o.ConnectTimeoutS);
        _connectTick = Clock.Now();
        _fe = _o.Listen ? VhostUserFrontend.Accept(_o.SocketPath, timeout) : VhostUserFrontend.Connect(_o.SocketPath, timeout);
    }

    private void Handshake(bool fresh)
    {
        if (_o.Order == HandshakeOrder.Dpdk)
        {
            SetupDpdkOrder(fresh);
        }
        else
        {
            SetupQemuOrder(fresh);
        }
    }

    /// <summary>What a front-end does once the device runs: migration's dirty logging, the
    /// destination's RARP announcement.</summary>
    private void AfterStart()
    {
        if (_o.DirtyLog)
        {
            EnableDirtyLog();
        }
        if (_o.SendRarp)
        {
            Span<byte> mac = stackalloc byte[6];
            FrameLayout.SrcMac(mac, 0);
            _fe!.SendRarp(mac);
        }
    }

    /// <summary>
    /// Closes the connection and opens a new one (connect again, or listen again for a back-end
    /// in client mode) while the guest keeps running: guest RAM, rings and buffers stay, and each
    /// ring resumes at used.idx as read from guest memory (what QEMU sends in SET_VRING_BASE when
    /// the back-end went away and GET_VRING_BASE was impossible, reference §10.5). Drains first:
    /// a packed ring's base is the driver's own used position, right only once the rings are
    /// <see cref="TrafficEngine.Quiescent"/>.
    /// </summary>
    public void Reconnect()
    {
        if (_fe == null || Engine == null)
        {
            throw new InvalidOperationException("Setup first");
        }
        Engine.Drain(_o.DrainTimeoutS);
        _fe.Dispose();
        _fe = null;
        LibC.CloseQuietly(_backendReqPeer);
        _backendReqPeer = -1;
        _extraAdded = false;
        _splitLayout = false;
        Open();
        Engine.C.FirstRxTick = 0;
        Handshake(fresh: false);
        AfterStart();
    }

    /// <summary>
    /// RESET_DEVICE, then starts the device again on the same connection (features, memory
    /// table, rings at used.idx, enables), as a front-end does after resetting a device whose
    /// guest keeps its rings. Every frame in flight is let back first.
    /// </summary>
    public void ResetAndRestart()
    {
        TrafficEngine e = Engine ?? throw new InvalidOperationException("Setup first");
        e.Drain(_o.DrainTimeoutS);
        Frontend.ResetDevice();
        Handshake(fresh: false);
        AfterStart();
        e.Sending = true;
        e.StartSchedule();
    }

    private int Rings => 2 * _o.Queues;

    private void Negotiate()
    {
        ulong offered = _fe!.GetFeatures();
        if ((offered & VirtioFeatures.Version1) == 0)
        {
            throw new IOException($"back-end does not offer VERSION_1 (offered {VirtioFeatures.Describe(offered)})");
        }
        AckedProtocolFeatures = 0;
        if ((offered & VirtioFeatures.ProtocolFeatures) != 0)
        {
            ulong p = _fe.GetProtocolFeatures();
            AckedProtocolFeatures = p & WantedProtocol;
            _fe.SetProtocolFeatures(AckedProtocolFeatures);
        }
        ulong missing = RequiredProtocol & ~AckedProtocolFeatures;
        if (missing != 0)
        {
            throw new IOException($"the options asked need protocol features the back-end does not offer: {ProtocolFeatures.Describe(missing)}");
        }
        if (_o.DirtyLog && (offered & VirtioFeatures.LogAll) == 0)
        {
            throw new IOException("dirty logging asked, but the back-end does not offer LOG_ALL");
        }
        AckedFeatures = WantedFeatures & offered;
        if (_o.Queues > 1 && (AckedFeatures & VirtioFeatures.NetMq) == 0)
        {
            throw new IOException($"{_o.Queues} queue pairs asked, but the back-end does not offer MQ");
        }
        if (Has(ProtocolFeatures.ConfigureMemSlots))
        {
            ulong slots = _fe.GetMaxMemSlots();
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

    private void SetupQemuOrder(bool fresh)
    {
        VhostUserFrontend fe = _fe!;
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
        if (fresh)
        {
            CreatePairs();
        }
        for (int i = 0; i < Rings; i++)
        {
            fe.SetVringCall((uint)i, CallFd(i));
            fe.SetVringErr((uint)i, ErrFd(i));
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
        SendMemTable();
        for (int i = 0; i < Rings; i++)
        {
            SetupRing(i, callAgain: true);
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
    }

    private void SetupDpdkOrder(bool fresh)
    {
        _fe!.SetOwner();
        Negotiate();
        if (fresh)
        {
            CreatePairs();
        }
        for (int i = 0; i < Rings; i++)
        {
            _fe.SetVringCall((uint)i, CallFd(i));
        }
        _fe.SetFeatures(AckedFeatures);
        bool status = Has(ProtocolFeatures.Status);
        if (status)
        {
            _fe.SetStatus(0xb);
            _fe.GetStatus();
        }
        if (_o.Mtu > 0)
        {
            _fe.NetSetMtu((ulong)_o.Mtu);
        }
        SendMemTable();
        for (int i = 0; i < Rings; i++)
        {
            SetupRing(i, callAgain: false);
        }
        // virtio-user enables pair 0 before DRIVER_OK and the other pairs after it (§10.7).
        _fe.SetVringEnable(0, true);
        _fe.SetVringEnable(1, true);
        if (status)
        {
            _fe.SetStatus(0xf);
        }
        for (int i = 2; i < Rings; i++)
        {
            _fe.SetVringEnable((uint)i, true);
        }
    }

    private void CreatePairs()
    {
        int hdr = VirtioNetHeader.SizeFor(AckedFeatures);
        int rxBuf = _o.EffectiveRxBufSize(hdr);
        bool indirect = VirtioFeatures.Has(AckedFeatures, VirtioFeatures.RingIndirectDesc);
        ulong need = (ulong)_o.Queues * ((ulong)_o.QueueSize * (ulong)(rxBuf + ((hdr + _o.FrameSize + 63) / 64 * 64) + 64 + (indirect ? 64 : 0)) + 64 * 4096UL);
        ulong bytes = _o.MemoryMb > 0 ? (ulong)_o.MemoryMb << 20 : Math.Max(16UL << 20, (need * 5 / 4 + (1 << 20) - 1) & ~((1UL << 20) - 1));
        _ram = new GuestRam(bytes, _o.Regions, identity: _o.IdentityGpa);
        bool eventIdx = VirtioFeatures.Has(AckedFeatures, VirtioFeatures.RingEventIdx);
        _pairs = new PairDriver[_o.Queues];
        for (int i = 0; i < _o.Queues; i++)
        {
            bool packed = VirtioFeatures.Has(AckedFeatures, VirtioFeatures.RingPacked);
            var p = new PairDriver(i, _ram, (ushort)_o.QueueSize, hdr, _o.FrameSize, (uint)rxBuf, eventIdx, indirect, packed)
            {
                KickRx = EventFd.Create(),
                KickTx = EventFd.Create(),
                ErrRx = EventFd.Create(),
                ErrTx = EventFd.Create(),
            };
            if (_o.UsesCallFds)
            {
                p.CallRx = EventFd.Create();
                p.CallTx = EventFd.Create();
            }
            _pairs[i] = p;
        }
    }

    private int CallFd(int ring) => ring % 2 == 0 ? _pairs[ring / 2].CallRx : _pairs[ring / 2].CallTx;

    private int ErrFd(int ring) => ring % 2 == 0 ? _pairs[ring / 2].ErrRx : _pairs[ring / 2].ErrTx;

    /// <summary>The memory table: SET_MEM_TABLE, or with CONFIGURE_MEM_SLOTS one ADD_MEM_REG per
    /// region (as QEMU does when that feature is negotiated).</summary>
    private void SendMemTable()
    {
        if (Has(ProtocolFeatures.ConfigureMemSlots))
        {
            foreach (GuestRam.Region r in _ram!.Regions)
            {
                _fe!.AddMemReg(r.Desc, r.Fd);
            }
            return;
        }
        _fe!.SetMemTable(_ram!.Regions.Select(r => r.Desc).ToList(), _ram.Regions.Select(r => r.Fd).ToList());
    }

    private VringAddr RingAddr(int ring, bool log)
    {
        PairDriver p = _pairs[ring / 2];
        bool rx = ring % 2 == 0;
        return new VringAddr
        {
            Index = (uint)ring,
            Flags = log ? VringAddr.FlagLog : 0,
            DescUserAddr = _ram!.Fva(rx ? p.RxDescGpa : p.TxDescGpa),
            AvailUserAddr = _ram.Fva(rx ? p.RxAvailGpa : p.TxAvailGpa),
            UsedUserAddr = _ram.Fva(rx ? p.RxUsedGpa : p.TxUsedGpa),
            LogGuestAddr = rx ? p.RxUsedGpa : p.TxUsedGpa,
        };
    }

    private void SetupRing(int ring, bool callAgain)
    {
        PairDriver p = _pairs[ring / 2];
        bool rx = ring % 2 == 0;
        uint i = (uint)ring;
        _fe!.SetVringNum(i, (uint)_o.QueueSize);
        // A fresh ring starts at 0 (packed: 0x80008000, both wrap counters 1); a ring that ran
        // under a previous connection resumes at its used position (everything the old
        // back-end completed).
        _fe.SetVringBase(i, p.RestartBase(rx));
        _fe.SetVringAddr(RingAddr(ring, _logMap != null));
        _fe.SetVringKick(i, rx ? p.KickRx : p.KickTx);
        if (callAgain)
        {
            _fe.SetVringCall(i, rx ? p.CallRx : p.CallTx);
        }
    }

    // ---- memory-table changes under traffic ----------------------------------------------------

    /// <summary>
    /// Changes the memory table once, as a front-end may at any time: without
    /// CONFIGURE_MEM_SLOTS, SET_MEM_TABLE alternating between the plain layout and one where
    /// regions are split in two (same files, different mappings, so the back-end must remap and
    /// re-point its rings while frames flow); with it, ADD_MEM_REG / REM_MEM_REG of an extra
    /// region (memory hot-plug). Control thread only; the traffic may run meanwhile.
    /// </summary>
    public void ChangeMemoryTable()
    {
        VhostUserFrontend fe = Frontend;
        if (Has(ProtocolFeatures.ConfigureMemSlots))
        {
            if (_extraHost == null)
            {
                _extraHost = GuestRam.CreateShared("perflab-hotplug", ExtraRegionBytes, out _extraFd);
            }
            var desc = new MemoryRegionDesc(_o.IdentityGpa ? (ulong)_extraHost : (Ram.EndGpa + 0xFFFFF) & ~0xFFFFFUL, ExtraRegionBytes, (ulong)_extraHost, 0);
            if (_extraAdded)
            {
                fe.RemMemReg(desc);
            }
            else
            {
                fe.AddMemReg(desc, _extraFd);
            }
            _extraAdded = !_extraAdded;
        }
        else
        {
            _splitLayout = !_splitLayout;
            var (regions, fds) = _splitLayout ? SplitLayoutTable() : (Ram.Regions.Select(r => r.Desc).ToList(), Ram.Regions.Select(r => r.Fd).ToList());
            fe.SetMemTable(regions, fds);
        }
        Interlocked.Increment(ref _remaps);
    }

    /// <summary>The same memory with as many regions as fit SET_MEM_TABLE split in two at a
    /// page boundary that cuts no ring part (each part must sit in one region).</summary>
    private (List<MemoryRegionDesc>, List<int>) SplitLayoutTable()
    {
        var regions = new List<MemoryRegionDesc>();
        var fds = new List<int>();
        int splittable = MemoryTableHeader.MaxRegions - Ram.Regions.Count;
        foreach (GuestRam.Region r in Ram.Regions)
        {
            ulong cut = splittable-- > 0 ? SafeCut(r) : 0;
            if (cut == 0)
            {
                regions.Add(r.Desc);
                fds.Add(r.Fd);
                continue;
            }
            regions.Add(new MemoryRegionDesc(r.Gpa, cut, r.Fva, 0));
            regions.Add(new MemoryRegionDesc(r.Gpa + cut, r.Size - cut, r.Fva + cut, cut));
            fds.Add(r.Fd);
            fds.Add(r.Fd);
        }
        return (regions, fds);
    }

    private ulong SafeCut(GuestRam.Region r)
    {
        var parts = _pairs.SelectMany(p => p.RingParts()).ToList();
        for (ulong cut = r.Size / 2 & ~(GuestRam.PageSize - 1); cut > 0 && cut < r.Size; cut += GuestRam.PageSize)
        {
            ulong at = r.Gpa + cut;
            if (!parts.Any(x => x.Gpa < at && at < x.Gpa + x.Len))
            {
                return cut;
            }
        }
        return 0;
    }

    // ---- dirty log -------------------------------------------------------------------------------

    /// <summary>
    /// Starts dirty logging as QEMU does when migration begins (reference §10.4): SET_FEATURES
    /// with LOG_ALL (waited), SET_LOG_BASE with a zeroed bitmap covering every page of guest RAM
    /// (the back-end replies), then SET_VRING_ADDR with the log flag on every ring (waited).
    /// </summary>
    private void EnableDirtyLog()
    {
        VhostUserFrontend fe = Frontend;
        if (_logMap == null)
        {
            ulong pages = (Ram.EndGpa + GuestRam.PageSize - 1) / GuestRam.PageSize;
            _logBytes = (pages + 63) / 64 * 8;
            _logMap = GuestRam.CreateShared("perflab-dirty-log", _logBytes, out _logFd);
        }
        fe.SetFeatures(AckedFeatures | VirtioFeatures.LogAll, waitAck: true);
        fe.SetLogBase(_logBytes, 0, _logFd);
        for (int i = 0; i < Rings; i++)
        {
            fe.Send(VhostUserRequest.SetVringAddr, MessageBytes(RingAddr(i, log: true)), [], needReply: true);
        }
    }

    private static byte[] MessageBytes(VringAddr a)
    {
        var b = new byte[System.Runtime.CompilerServices.Unsafe.SizeOf<VringAddr>()];
        System.Runtime.InteropServices.MemoryMarshal.Write(b, in a);
        return b;
    }

    /// <summary>
    /// Compares the dirty log with the pages the back-end must have written since logging
    /// began: every RX buffer's header and frame, and the used ring of every ring; nothing else
    /// (TX buffers, descriptor tables and avail rings are only read). Exact when every RX buffer
    /// was filled at least once with one whole frame; otherwise (-1, -1, -1).
    /// </summary>
    private (long Logged, long Expected, long Mismatches) CheckDirtyLog()
    {
        int hdr = VirtioNetHeader.SizeFor(AckedFeatures);
        bool oneBufferPerFrame = _pairs.All(p => p.RxBufSize >= (uint)(hdr + _o.FrameSize));
        if (_logMap == null || _o.TxOnly || !oneBufferPerFrame || _pairs.Any(p => p.Received < p.QueueSize))
        {
            return (-1, -1, -1);
        }
        var expected = new HashSet<ulong>();
        void Add(ulong gpa, ulong len)
        {
            for (ulong pg = gpa / GuestRam.PageSize; pg <= (gpa + len - 1) / GuestRam.PageSize; pg++)
            {
                expected.Add(pg);
            }
        }
        foreach (PairDriver p in _pairs)
        {
            foreach (var (gpa, len) in p.DeviceWrittenRingParts())
            {
                Add(gpa, len);
            }
            foreach (ulong gpa in p.RxGpa)
            {
                Add(gpa, (ulong)(hdr + _o.FrameSize));
            }
        }
        long logged = 0, mismatches = 0;
        for (ulong pg = 0; pg < _logBytes * 8; pg++)
        {
            bool dirty = (_logMap[pg >> 3] & (1 << (int)(pg & 7))) != 0;
            logged += dirty ? 1 : 0;
            mismatches += dirty != expected.Contains(pg) ? 1 : 0;
        }
        return (logged, expected.Count, mismatches);
    }

    /// <summary>
    /// First frame (the connect-to-first-frame time), the reconnect cycles asked for, warm-up,
    /// measured window (with memory-table changes if asked), drain; returns the window's figures.
    /// </summary>
    public LoadGenResult Run()
    {
        TrafficEngine e = Engine ?? throw new InvalidOperationException("Setup first");
        if (_o.Cpu >= 0)
        {
            Affinity.PinCurrentThread(_o.Cpu);
        }
        Affinity.SetTimerSlack(1000);
        e.StartSchedule();
        if (_firstFrameMs < 0)
        {
            _firstFrameMs = RunToFirstFrame(e);
        }
        for (int k = 0; k < _o.Reconnects; k++)
        {
            _reconnectMs.Add(ReconnectAndTime());
        }
        if (_o.ResetDevice)
        {
            ResetAndRestart();
        }
        // Fetch the back-end's figures once before the warm-up, so that this path is compiled,
        // and tiered up, during the warm-up: a method first run at the window's start would be
        // re-jitted in the middle of it, and the JIT's thread preempts a busy poller for
        // milliseconds on a 2-core machine (p99 of 2-5 ms at 10% load, before this).
        if (_o.WarmupS > 0)
        {
            _ = Window.Begin(this);
            _ = Window.End(this);
        }
        long t = Clock.Now();
        if (_o.WarmupS > 0)
        {
            e.RunUntil(t + (long)(_o.WarmupS * Clock.TicksPerSecond));
        }
        using var remapper = _o.RemapIntervalMs > 0 ? new Remapper(this, _o.RemapIntervalMs) : null;
        int remaps0 = MemoryRemaps;
        Window w = Window.Begin(this);
        // The open-loop schedule restarts with the window: the snapshot above (a socket round
        // trip to the back-end, JIT-compiled on first use) stalls this thread for up to 90 ms,
        // and bursts "due" during our own stall would count as the system's queueing (p99 of
        // 60 ms at 10% load before this). The bench does the same in its IterationSetup.
        e.StartSchedule();
        e.Measuring = true;
        e.RunUntil(Clock.Now() + (long)(_o.DurationS * Clock.TicksPerSecond));
        e.Measuring = false;
        Window end = Window.End(this);
        remapper?.Stop();
        int remaps = MemoryRemaps - remaps0;
        e.Drain(_o.DrainTimeoutS);
        if (_o.DirtyLog)
        {
            _dirty = CheckDirtyLog();
        }
        return BuildResult(w, end) with { MemoryRemaps = remaps };
    }

    /// <summary>Runs until a frame comes back (or the connect timeout passes); returns the ms
    /// since the connection was opened, or -1.</summary>
    private double RunToFirstFrame(TrafficEngine e)
    {
        e.Sending = true;
        e.StartSchedule();
        e.RunUntilReceived(e.C.Received + 1, Clock.Now() + (long)(_o.ConnectTimeoutS * Clock.TicksPerSecond));
        return e.C.FirstRxTick == 0 ? -1 : Clock.TicksToNs(e.C.FirstRxTick - _connectTick) / 1e6;
    }

    /// <summary>
    /// One measured reconnect: lets every frame in flight come back, closes the connection,
    /// reopens it (<see cref="Reconnect"/>) and sends until a frame is back. Returns the ms from
    /// reopening to that frame: the back-end's reconnect back-off, the handshake, the rings'
    /// restart and one round trip.
    /// </summary>
    public double ReconnectAndTime()
    {
        TrafficEngine e = Engine ?? throw new InvalidOperationException("Setup first");
        Reconnect();
        return RunToFirstFrame(e);
    }

    /// <summary>Changes the memory table every interval on its own thread while traffic runs.</summary>
    private sealed class Remapper : IDisposable
    {
        private readonly LoadGenerator _g;
        private readonly Thread _thread;
        private readonly ManualResetEventSlim _stop = new();
        private Exception? _error;

        public Remapper(LoadGenerator g, double intervalMs)
        {
            _g = g;
            _thread = new Thread(() =>
            {
                try
                {
                    while (!_stop.Wait(TimeSpan.FromMilliseconds(intervalMs)))
                    {
                        _g.ChangeMemoryTable();
                    }
                }
                catch (Exception ex)
                {
                    _error = ex;
                }
            }) { IsBackground = true, Name = "loadgen-remap" };
            _thread.Start();
        }

        /// <summary>Stops and joins; rethrows what failed on the thread.</summary>
        public void Stop()
        {
            _stop.Set();
            if (!_thread.Join(TimeSpan.FromSeconds(10)))
            {
                throw new TimeoutException("the memory-table thread did not stop within 10 s");
            }
            if (_error != null)
            {
                throw new IOException($"memory-table change failed: {_error.Message}", _error);
            }
        }

        public void Dispose()
        {
            _stop.Set();
            _thread.Join(TimeSpan.FromSeconds(10));
            _stop.Dispose();
        }
    }

    /// <summary>What is snapshotted at the start and end of the measured window.</summary>
    public sealed record Window(long Tick, EngineCounters C, CpuTime Process, CpuTime Thread, GcSnapshot Gc, BackendStats? Backend, long BackendCpuNs)
    {
        /// <summary>Fetches the back-end's figures first and reads our own last, so that the
        /// fetch (which allocates) falls outside the window.</summary>
        public static Window Begin(LoadGenerator g)
        {
            BackendStats? b = StatsClient.TryFetch(g._o.BackendStatsSocket);
            long bcpu = b?.CpuNs ?? (g._o.BackendPid > 0 ? CpuTime.OfProcess(g._o.BackendPid) : -1);
            EngineCounters c = g.Engine!.C.Clone();
            CpuTime p = CpuTime.Process();
            CpuTime t = CpuTime.Thread();
            GcSnapshot gc = GcSnapshot.Take();
            return new Window(Clock.Now(), c, p, t, gc, b, bcpu);
        }

        /// <summary>The mirror of <see cref="Begin"/>: our own figures first, then the back-end's.</summary>
        public static Window End(LoadGenerator g)
        {
            long tick = Clock.Now();
            GcSnapshot gc = GcSnapshot.Take();
            CpuTime t = CpuTime.Thread();
            CpuTime p = CpuTime.Process();
            EngineCounters c = g.Engine!.C.Clone();
            BackendStats? b = StatsClient.TryFetch(g._o.BackendStatsSocket);
            long bcpu = b?.CpuNs ?? (g._o.BackendPid > 0 ? CpuTime.OfProcess(g._o.BackendPid) : -1);
            return new Window(tick, c, p, t, gc, b, bcpu);
        }
    }

    public LoadGenResult BuildResult(Window a, Window b)
    {
        TrafficEngine e = Engine!;
        double secs = Clock.TicksToNs(b.Tick - a.Tick) / 1e9;
        long received = b.C.Received - a.C.Received;
        long sent = b.C.Sent - a.C.Sent;
        GcSnapshot gc = b.Gc - a.Gc;
        CpuTime cpu = b.Process - a.Process;
        CpuTime thr = b.Thread - a.Thread;
        LongHistogram h = e.Histogram;
        double pp(long v) => received > 0 ? (double)v / received : 0;
        var r = new LoadGenResult
        {
            Backend = _o.BackendLabel,
            Poll = _o.Poll.Describe(),
            Features = VirtioFeatures.Describe(AckedFeatures),
            ProtocolFeatures = PerfLab.Vhost.Protocol.ProtocolFeatures.Describe(AckedProtocolFeatures),
            ReceivedPerPair = _pairs.Select(p => p.Received).ToArray(),
            ConnectToFirstFrameMs = _firstFrameMs,
            ReconnectMs = [.. _reconnectMs],
            RarpReceived = e.C.RarpReceived,
            DirtyPagesLogged = _dirty.Logged,
            DirtyPagesExpected = _dirty.Expected,
            DirtyLogMismatches = _dirty.Mismatches,
            FrameSize = _o.FrameSize,
            QueueSize = _o.QueueSize,
            Burst = _o.Burst,
            Queues = _o.Queues,
            OfferedPps = _o.RatePps,
            DurationS = secs,
            Sent = e.C.Sent,
            Received = e.C.Received,
            Lost = e.C.Sent - e.C.Received,
            SeqErrors = e.C.SeqErrors,
            Unswapped = e.C.Unswapped,
            BadLength = e.C.BadLength,
            Corrupt = e.C.Corrupt,
            VerifyErrors = e.C.VerifyErrors,
            BadIds = e.C.BadIds,
            RingErrors = _pairs.Sum(p => (long)(EventFd.Drain(p.ErrRx) + EventFd.Drain(p.ErrTx))),
            Mpps = received / secs / 1e6,
            Gbps = received * (double)_o.FrameSize * 8 / secs / 1e9,
            LatencyNs = Summarize(h),
            LatencyPercentiles = Percentiles(h),
            Kicks = b.C.Kicks - a.C.Kicks,
            KicksPerPacket = pp(b.C.Kicks - a.C.Kicks),
            CallsReceived = b.C.CallsReceived - a.C.CallsReceived,
            CallsPerPacket = pp(b.C.CallsReceived - a.C.CallsReceived),
            Sleeps = b.C.Sleeps - a.C.Sleeps,
            TxFullStalls = b.C.TxFullStalls - a.C.TxFullStalls,
            LoadgenCpuNs = cpu.TotalNs,
            LoadgenThreadCpuNs = thr.TotalNs,
            LoadgenCpuPct = cpu.TotalNs / (secs * 1e9) * 100,
            LoadgenCpuNsPerPacket = pp(thr.TotalNs),
            Gen0 = gc.Gen0,
            Gen1 = gc.Gen1,
            Gen2 = gc.Gen2,
            AllocatedBytes = gc.AllocatedBytes,
            Clock = Clock.Source,
        };
        if (a.BackendCpuNs >= 0 && b.BackendCpuNs >= 0)
        {
            long bc = b.BackendCpuNs - a.BackendCpuNs;
            // The share of a core by the back-end's own clock when it has one (its snapshots
            // bracket the stats round trips, which our window does not include).
            double backendSecs = a.Backend is { } s0 && b.Backend is { } s1 && s1.TimestampNs > s0.TimestampNs
                ? (s1.TimestampNs - s0.TimestampNs) / 1e9
                : secs;
            r = r with { BackendCpuNs = bc, BackendCpuPct = bc / (backendSecs * 1e9) * 100, BackendCpuNsPerPacket = pp(bc) };
        }
        if (a.Backend is { } sa && b.Backend is { } sb)
        {
            long pk = sb.Packets - sa.Packets;
            r = r with
            {
                BackendPackets = pk,
                BackendBusyNsPerPacket = pk > 0 ? (double)(sb.BusyNs - sa.BusyNs) / pk : 0,
                BackendCalls = sb.Queues.Sum(q => q.Calls) - sa.Queues.Sum(q => q.Calls),
                BackendKicksReceived = sb.Queues.Sum(q => q.Kicks) - sa.Queues.Sum(q => q.Kicks),
                BackendWakeups = sb.Workers.Sum(w => w.Wakeups) - sa.Workers.Sum(w => w.Wakeups),
                BackendEmptyPolls = sb.Workers.Sum(w => w.EmptyPolls) - sa.Workers.Sum(w => w.EmptyPolls),
                BackendGen0 = sb.Gen0 - sa.Gen0,
                BackendGen1 = sb.Gen1 - sa.Gen1,
                BackendGen2 = sb.Gen2 - sa.Gen2,
                BackendAllocatedBytes = sb.AllocatedBytes - sa.AllocatedBytes,
                BackendDataPlaneAllocatedBytes = sb.DataPlaneAllocatedBytes - sa.DataPlaneAllocatedBytes,
            };
        }
        return r;
    }

    public static LatencySummary Summarize(LongHistogram h) => h.TotalCount == 0 ? new LatencySummary() : new LatencySummary
    {
        Count = h.TotalCount,
        Mean = h.GetMean(),
        P50 = h.GetValueAtPercentile(50),
        P90 = h.GetValueAtPercentile(90),
        P99 = h.GetValueAtPercentile(99),
        P999 = h.GetValueAtPercentile(99.9),
        Max = h.GetMaxValue(),
    };

    /// <summary>The distribution at HdrHistogram's usual ladder of percentiles.</summary>
    public static List<double[]> Percentiles(LongHistogram h)
    {
        var list = new List<double[]>();
        if (h.TotalCount == 0)
        {
            return list;
        }
        foreach (double p in new[] { 0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 97.5, 98, 98.5, 99, 99.25, 99.5, 99.75, 99.9, 99.95, 99.99, 99.995, 99.999, 100 })
        {
            list.Add([p, h.GetValueAtPercentile(p)]);
        }
        return list;
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
        if ((AckedProtocolFeatures & ProtocolFeatures.Status) != 0)
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

    public static string Human(LoadGenResult r)
    {
        var ci = CultureInfo.InvariantCulture;
        var l = r.LatencyNs;
        string us(double ns) => (ns / 1000).ToString("F2", ci);
        var s = new System.Text.StringBuilder();
        s.AppendLine(string.Create(ci, $"perflab-loadgen: {r.Backend} poll={r.Poll} size={r.FrameSize}B queue={r.QueueSize} burst={r.Burst} queues={r.Queues} offered={(r.OfferedPps > 0 ? $"{r.OfferedPps / 1e6:F3} Mpps" : "max")}"));
        s.AppendLine(string.Create(ci, $"  features   {r.Features}; protocol {r.ProtocolFeatures}"));
        s.AppendLine(string.Create(ci, $"  window     {r.DurationS:F2} s   sent={r.Sent} received={r.Received} lost={r.Lost} seq_errors={r.SeqErrors} bad_length={r.BadLength} corrupt={r.Corrupt}{(r.VerifyErrors > 0 ? $" verify_errors={r.VerifyErrors}" : "")}{(r.Unswapped > 0 ? $" unswapped={r.Unswapped}" : "")}"));
        s.AppendLine(string.Create(ci, $"  throughput {r.Mpps:F3} Mpps  {r.Gbps:F3} Gb/s"));
        s.AppendLine(string.Create(ci, $"  latency us p50={us(l.P50)} p90={us(l.P90)} p99={us(l.P99)} p99.9={us(l.P999)} max={us(l.Max)} (n={l.Count}, round trip)"));
        s.AppendLine(string.Create(ci, $"  connect    first frame after {r.ConnectToFirstFrameMs:F1} ms{(r.ReconnectMs.Count > 0 ? $"; reconnects (ms): {string.Join(' ', r.ReconnectMs.Select(x => x.ToString("F1", ci)))}" : "")}{(r.Queues > 1 ? $"; per pair: {string.Join(' ', r.ReceivedPerPair)}" : "")}"));
        if (r.MemoryRemaps > 0 || r.RarpReceived > 0 || r.DirtyPagesLogged >= 0)
        {
            s.AppendLine(string.Create(ci, $"  protocol   memory_remaps={r.MemoryRemaps} rarp_received={r.RarpReceived} dirty_pages logged={r.DirtyPagesLogged} expected={r.DirtyPagesExpected} mismatches={r.DirtyLogMismatches}"));
        }
        s.AppendLine(string.Create(ci, $"  notify     kicks/pkt={r.KicksPerPacket:F4} calls/pkt={r.CallsPerPacket:F4} sleeps={r.Sleeps} tx_full={r.TxFullStalls}"));
        s.AppendLine(string.Create(ci, $"  loadgen    cpu={r.LoadgenCpuPct:F0}% ({r.LoadgenCpuNsPerPacket:F1} ns/pkt on the traffic thread) gen0={r.Gen0} gen1={r.Gen1} gen2={r.Gen2} allocated={r.AllocatedBytes}B"));
        if (r.BackendCpuNs >= 0)
        {
            s.AppendLine(string.Create(ci, $"  backend    cpu={r.BackendCpuPct:F0}% ({r.BackendCpuNsPerPacket:F1} ns/pkt){(r.BackendBusyNsPerPacket >= 0 ? $" busy={r.BackendBusyNsPerPacket:F1} ns/pkt calls={r.BackendCalls} kicks={r.BackendKicksReceived} wakeups={r.BackendWakeups} gen0={r.BackendGen0} gen1={r.BackendGen1} gen2={r.BackendGen2} allocated={r.BackendAllocatedBytes}B (data plane {r.BackendDataPlaneAllocatedBytes}B)" : "")}"));
        }
        if (r.RingErrors > 0)
        {
            s.AppendLine($"  ERROR      the back-end signalled {r.RingErrors} ring error(s) on the err fds");
        }
        return s.ToString();
    }

    public void Dispose()
    {
        Engine?.Dispose();
        foreach (PairDriver p in _pairs)
        {
            p.Dispose();
        }
        _fe?.Dispose();
        LibC.CloseQuietly(_backendReqPeer);
        _ram?.Dispose();
        if (_extraHost != null)
        {
            LibC.munmap((nint)_extraHost, (nuint)ExtraRegionBytes);
            _extraHost = null;
        }
        LibC.CloseQuietly(_extraFd);
        if (_logMap != null)
        {
            LibC.munmap((nint)_logMap, (nuint)_logBytes);
            _logMap = null;
        }
        LibC.CloseQuietly(_logFd);
    }
}

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
/// against PerfLab's back-end and DPDK's vhost PMD.
/// </summary>
public sealed class LoadGenerator : IDisposable
{
    private readonly LoadGenOptions _o;
    private GuestRam? _ram;
    private VhostUserFrontend? _fe;
    private PairDriver[] _pairs = [];
    private int _backendReqPeer = -1;

    public LoadGenerator(LoadGenOptions options) => _o = options;

    public ulong AckedFeatures { get; private set; }
    public ulong AckedProtocolFeatures { get; private set; }
    public TrafficEngine? Engine { get; private set; }
    public VhostUserFrontend Frontend => _fe ?? throw new InvalidOperationException("not connected");
    public GuestRam Ram => _ram ?? throw new InvalidOperationException("not set up");

    /// <summary>Log of what the handshake did (for --verbose and tests).</summary>
    public Action<string>? Trace { get; set; }

    /// <summary>Features the guest wants, before intersecting with the back-end's offer.</summary>
    private ulong WantedFeatures =>
        VirtioFeatures.Version1 | VirtioFeatures.ProtocolFeatures
        | (_o.EventIdx ? VirtioFeatures.RingEventIdx : 0)
        | (_o.Mergeable ? VirtioFeatures.NetMrgRxbuf : 0)
        | (_o.Indirect ? VirtioFeatures.RingIndirectDesc : 0)
        | (_o.Queues > 1 ? VirtioFeatures.NetMq : 0);

    private const ulong WantedProtocol =
        ProtocolFeatures.Mq | ProtocolFeatures.ReplyAck | ProtocolFeatures.Status | ProtocolFeatures.BackendReq;

    /// <summary>Connects, negotiates and sets up every ring; traffic can start after this.</summary>
    public void Setup()
    {
        var timeout = TimeSpan.FromSeconds(_o.ConnectTimeoutS);
        _fe = _o.Listen ? VhostUserFrontend.Accept(_o.SocketPath, timeout) : VhostUserFrontend.Connect(_o.SocketPath, timeout);
        if (_o.Order == HandshakeOrder.Dpdk)
        {
            SetupDpdkOrder();
        }
        else
        {
            SetupQemuOrder();
        }
        var engine = new TrafficEngine(_pairs, _o, VirtioFeatures.Has(AckedFeatures, VirtioFeatures.NetMrgRxbuf));
        Engine = engine;
        foreach (PairDriver p in _pairs)
        {
            if (!_o.TxOnly && p.PostAllRx())
            {
                EventFd.Signal(p.KickRx);
            }
        }
    }

    private int Rings => 2 * _o.Queues;

    private void Negotiate(out ulong offered)
    {
        offered = _fe!.GetFeatures();
        if ((offered & VirtioFeatures.Version1) == 0)
        {
            throw new IOException($"back-end does not offer VERSION_1 (offered {VirtioFeatures.Describe(offered)})");
        }
        if ((offered & VirtioFeatures.ProtocolFeatures) != 0)
        {
            ulong p = _fe.GetProtocolFeatures();
            AckedProtocolFeatures = p & WantedProtocol;
            _fe.SetProtocolFeatures(AckedProtocolFeatures);
        }
        AckedFeatures = WantedFeatures & offered;
        if (_o.Queues > 1 && (AckedFeatures & VirtioFeatures.NetMq) == 0)
        {
            throw new IOException($"{_o.Queues} queue pairs asked, but the back-end does not offer MQ");
        }
    }

    private void SetupQemuOrder()
    {
        VhostUserFrontend fe = _fe!;
        Negotiate(out _);
        Trace?.Invoke($"features offered {VirtioFeatures.Describe(fe.BackendFeatures)}; acked {VirtioFeatures.Describe(AckedFeatures)}; protocol {ProtocolFeatures.Describe(AckedProtocolFeatures)}");
        if ((AckedProtocolFeatures & ProtocolFeatures.Mq) != 0)
        {
            ulong qn = fe.GetQueueNum();
            if (qn < (ulong)_o.Queues)
            {
                throw new IOException($"back-end serves {qn} queue pairs, {_o.Queues} asked");
            }
        }
        if ((AckedProtocolFeatures & ProtocolFeatures.BackendReq) != 0)
        {
            var (a, b) = UnixSocket.Pair();
            _backendReqPeer = a;
            fe.SetBackendReqFd(b);
            LibC.close(b);
        }
        fe.SetOwner();
        fe.GetFeatures();
        CreatePairs();
        for (int i = 0; i < Rings; i++)
        {
            fe.SetVringCall((uint)i, CallFd(i));
            fe.SetVringErr((uint)i, ErrFd(i));
        }
        // QEMU enables the rings before features and ring setup, and never again.
        for (int i = 0; i < Rings; i++)
        {
            fe.SetVringEnable((uint)i, true);
        }
        fe.SetFeatures(AckedFeatures);
        bool status = (AckedProtocolFeatures & ProtocolFeatures.Status) != 0;
        if (status)
        {
            fe.GetStatus();
            fe.SetStatus((ulong)(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk));
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
    }

    private void SetupDpdkOrder()
    {
        _fe!.SetOwner();
        Negotiate(out _);
        CreatePairs();
        for (int i = 0; i < Rings; i++)
        {
            _fe.SetVringCall((uint)i, CallFd(i));
        }
        _fe.SetFeatures(AckedFeatures);
        bool status = (AckedProtocolFeatures & ProtocolFeatures.Status) != 0;
        if (status)
        {
            _fe.SetStatus(0xb);
            _fe.GetStatus();
        }
        SendMemTable();
        for (int i = 0; i < Rings; i++)
        {
            SetupRing(i, callAgain: false);
        }
        for (int i = 0; i < Rings; i++)
        {
            _fe.SetVringEnable((uint)i, true);
        }
        if (status)
        {
            _fe.SetStatus(0xf);
        }
    }

    private void CreatePairs()
    {
        int hdr = VirtioNetHeader.SizeFor(AckedFeatures);
        int rxBuf = _o.EffectiveRxBufSize(hdr);
        ulong need = (ulong)_o.Queues * ((ulong)_o.QueueSize * (ulong)(rxBuf + ((hdr + _o.FrameSize + 63) / 64 * 64) + 64) + 64 * 4096UL);
        ulong bytes = _o.MemoryMb > 0 ? (ulong)_o.MemoryMb << 20 : Math.Max(16UL << 20, (need * 5 / 4 + (1 << 20) - 1) & ~((1UL << 20) - 1));
        _ram = new GuestRam(bytes, _o.Regions, identity: _o.IdentityGpa);
        bool eventIdx = VirtioFeatures.Has(AckedFeatures, VirtioFeatures.RingEventIdx);
        _pairs = new PairDriver[_o.Queues];
        for (int i = 0; i < _o.Queues; i++)
        {
            var p = new PairDriver(i, _ram, (ushort)_o.QueueSize, hdr, _o.FrameSize, (uint)rxBuf, eventIdx)
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

    private void SendMemTable()
    {
        var regions = _ram!.Regions.Select(r => r.Desc).ToList();
        var fds = _ram.Regions.Select(r => r.Fd).ToList();
        if (regions.Count <= MemoryTableHeader.MaxRegions)
        {
            _fe!.SetMemTable(regions, fds);
            return;
        }
        throw new IOException($"{regions.Count} regions need CONFIGURE_MEM_SLOTS, which this run did not negotiate");
    }

    private void SetupRing(int ring, bool callAgain)
    {
        PairDriver p = _pairs[ring / 2];
        bool rx = ring % 2 == 0;
        uint i = (uint)ring;
        _fe!.SetVringNum(i, (uint)_o.QueueSize);
        _fe.SetVringBase(i, 0);
        var addr = new VringAddr
        {
            Index = i,
            DescUserAddr = _ram!.Fva(rx ? p.RxDescGpa : p.TxDescGpa),
            AvailUserAddr = _ram.Fva(rx ? p.RxAvailGpa : p.TxAvailGpa),
            UsedUserAddr = _ram.Fva(rx ? p.RxUsedGpa : p.TxUsedGpa),
            LogGuestAddr = rx ? p.RxUsedGpa : p.TxUsedGpa,
        };
        _fe.SetVringAddr(addr);
        _fe.SetVringKick(i, rx ? p.KickRx : p.KickTx);
        if (callAgain)
        {
            _fe.SetVringCall(i, rx ? p.CallRx : p.CallTx);
        }
    }

    /// <summary>Warm-up, measured window, drain; returns the window's figures.</summary>
    public LoadGenResult Run()
    {
        TrafficEngine e = Engine ?? throw new InvalidOperationException("Setup first");
        if (_o.Cpu >= 0)
        {
            Affinity.PinCurrentThread(_o.Cpu);
        }
        Affinity.SetTimerSlack(1000);
        e.StartSchedule();
        long t = Clock.Now();
        if (_o.WarmupS > 0)
        {
            e.RunUntil(t + (long)(_o.WarmupS * Clock.TicksPerSecond));
        }
        Window w = Window.Begin(this);
        e.Measuring = true;
        e.RunUntil(Clock.Now() + (long)(_o.DurationS * Clock.TicksPerSecond));
        e.Measuring = false;
        Window end = Window.End(this);
        e.Drain(_o.DrainTimeoutS);
        return BuildResult(w, end);
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
            r = r with { BackendCpuNs = bc, BackendCpuPct = bc / (secs * 1e9) * 100, BackendCpuNsPerPacket = pp(bc) };
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
        s.AppendLine(string.Create(ci, $"  features   {r.Features}"));
        s.AppendLine(string.Create(ci, $"  window     {r.DurationS:F2} s   sent={r.Sent} received={r.Received} lost={r.Lost} seq_errors={r.SeqErrors} bad_length={r.BadLength} corrupt={r.Corrupt}{(r.VerifyErrors > 0 ? $" verify_errors={r.VerifyErrors}" : "")}{(r.Unswapped > 0 ? $" unswapped={r.Unswapped}" : "")}"));
        s.AppendLine(string.Create(ci, $"  throughput {r.Mpps:F3} Mpps  {r.Gbps:F3} Gb/s"));
        s.AppendLine(string.Create(ci, $"  latency us p50={us(l.P50)} p90={us(l.P90)} p99={us(l.P99)} p99.9={us(l.P999)} max={us(l.Max)} (n={l.Count}, round trip)"));
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
    }
}

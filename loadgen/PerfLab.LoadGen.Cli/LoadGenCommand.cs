using System.CommandLine;
using PerfLab.CliOptions;
using PerfLab.LoadGen.Trials;

namespace PerfLab.LoadGen.Cli;

/// <summary>What the command line asks for besides the options of the run itself.</summary>
/// <param name="Devices">One options record per device (a single one unless --devices or a
/// repeated --socket asks for several); <paramref name="Options"/> is the first.</param>
public sealed record LoadGenInvocation(LoadGenOptions Options, bool Json, bool MeasureSleep, IReadOnlyList<TrialSpec> Trials, double TrialGapS,
    IReadOnlyList<LoadGenOptions> Devices)
{
    public LoadGenInvocation(LoadGenOptions options, bool json, bool measureSleep, IReadOnlyList<TrialSpec> trials, double trialGapS)
        : this(options, json, measureSleep, trials, trialGapS, [options])
    {
    }
}

/// <summary>
/// perflab-loadgen's options, each defined once (name, value, description, default from
/// <see cref="LoadGenOptions"/>, range), and their binding into a <see cref="LoadGenInvocation"/>.
/// </summary>
public sealed class LoadGenCommand
{
    private static readonly LoadGenOptions D = new();

    // Connection
    private readonly DeviceSocketOptions _sockets = new(D.SocketPath,
        "the back-end's socket; give it again to drive one device per socket at once",
        "with --devices N: one device on each of DIR/vhost-0.sock .. DIR/vhost-<N-1>.sock (perflab-backend --sockets DIR --devices N)",
        "drive N devices at once, each with its own memory, handshake and rings; with --poll busy one traffic thread steps them all in turn, otherwise one thread each; --rate and --inflight are totals, split evenly",
        SocketInFolder, devicesCountSockets: true);
    private readonly Option<bool> _listen = Opt.Flag("--listen", "listen on the socket and wait for a back-end in client mode");
    private readonly Option<double> _connectTimeout = Opt.Number("--connect-timeout", "S", "give up connecting after S seconds", D.ConnectTimeoutS, positive: true);
    private readonly Option<HandshakeOrder> _order = Opt.Choice("--order", "handshake order to replay (qemu: QEMU 7.2's; dpdk: virtio-user's)", D.Order,
        [("qemu", HandshakeOrder.Qemu), ("dpdk", HandshakeOrder.Dpdk)]);

    // Traffic
    private readonly Option<double> _duration = Opt.Number("--duration", "S", "measured window in seconds", D.DurationS, positive: true);
    private readonly Option<double> _warmup = Opt.Number("--warmup", "S", "traffic before the window, not measured", D.WarmupS);
    private readonly Option<int> _size = Opt.Int("--size", "BYTES", "Ethernet frame size, without the virtio-net header", D.FrameSize, 38, 65535);
    private readonly Option<int> _queueSize = Opt.Of("--queue-size", "N", "ring size, a power of two", D.QueueSize, (string t, out int v) =>
        int.TryParse(t, out v) && v >= 1 && v <= 32768 && (v & (v - 1)) == 0 ? null : $"'{t}' is not a power of two in 1..32768");
    private readonly Option<int> _burst = Opt.Int("--burst", "N", "frames posted per publish, hence at most one kick per N", D.Burst, 1, 32768);
    private readonly Option<double> _rate = Opt.Number("--rate", "PPS",
        "open-loop offered load, all pairs together (k/M suffixes); latency is measured from each burst's scheduled time",
        D.RatePps, positive: true, shown: "as fast as the rings allow");
    private readonly Option<int> _inflight = Opt.Int("--inflight", "N",
        "at most N frames in flight, all pairs together; --burst 1 --inflight 1 is a ping-pong (the latency floor)",
        D.MaxInFlight, 1, 1 << 24, shown: "per pair, as many as the posted RX buffers hold, so a back-end that drops without RX buffers never has to");
    private readonly Option<int> _queues = Opt.Int("--queues", "N", "queue pairs; needs MQ from the back-end. As QEMU does, pairs after the first are enabled only after DRIVER_OK", D.Queues, 1, 128);
    private readonly Option<bool> _txOnly = Opt.Flag("--tx-only", "send only and count TX completions (back-end in sink mode)");
    private readonly Option<bool> _lossy = Opt.Flag("--lossy",
        "open loop without back-pressure (for NDR/PDR): a frame that finds no room on TX at its time is counted dropped, never sent late; no per-pair in-flight cap (run the back-end with --drop-when-full)");
    private readonly Option<IReadOnlyList<TrialSpec>> _trials = Opt.Of<IReadOnlyList<TrialSpec>>("--trials", "LIST",
        "run these trials back to back on one connection instead of one window, e.g. 1M@0.5,2M@0.5,max@0.2,ping@1 (RATE@SECONDS; max: as fast as the rings allow; ping: one frame in flight); one result per trial (usually with --lossy)",
        [], TrialList.TryParse);
    private readonly Option<double> _trialGap = Opt.Number("--trial-gap", "S", "quiet time between trials", 0.01);

    // Guest features
    private readonly Option<bool> _noEventIdx = Opt.Flag("--no-event-idx", "do not negotiate EVENT_IDX (use the ring flags)");
    private readonly Option<bool> _packed = Opt.Flag("--packed", "negotiate RING_PACKED: packed virtqueues instead of split ones");
    private readonly Option<bool> _mergeable = Opt.Flag("--mergeable", "negotiate MRG_RXBUF; with --rx-buf-size below header + frame, every frame spans several RX buffers (num_buffers checked)");
    private readonly Option<bool> _indirect = Opt.Flag("--indirect", "negotiate INDIRECT_DESC: every TX and RX buffer is posted as an indirect table of two descriptors (header, then frame)");
    private readonly Option<bool> _inOrder = Opt.Flag("--in-order", "negotiate IN_ORDER: TX buffers go out in ring order and may come back in batches of one used element");
    private readonly Option<int> _rxBufSize = Opt.Int("--rx-buf-size", "BYTES", "RX buffer size", D.RxBufSize, 64, 65536, shown: "header + frame, at least 2048");
    private readonly Option<CallFdPolicy> _callFds = Opt.Choice("--call-fds", "give the back-end call eventfds (auto: only if --poll sleeps)", D.CallFds,
        [("auto", CallFdPolicy.Auto), ("always", CallFdPolicy.Always), ("never", CallFdPolicy.Never)]);
    private readonly Option<int> _memoryMb = Opt.Int("--memory-mb", "N", "guest RAM size in MiB", D.MemoryMb, 1, 1 << 20, shown: "what the rings need");
    private readonly Option<int> _regions = Opt.Int("--regions", "N", "guest RAM in N memfd regions; more than 8 need CONFIGURE_MEM_SLOTS (ADD_MEM_REG)", D.Regions, 1, 509);
    private readonly Option<bool> _memSlots = Opt.Flag("--mem-slots", "send the table as ADD_MEM_REG messages even for 8 regions or fewer");
    private readonly Option<bool> _identityGpa = Opt.Flag("--identity-gpa", "guest-physical address = our virtual address (as DPDK virtio-user)");
    private readonly Option<bool> _verify = Opt.Flag("--verify", "check every received payload byte (slow)");

    // Protocol exercises
    private readonly Option<int> _mtu = Opt.Int("--mtu", "N", "NET_SET_MTU N at DRIVER_OK (negotiates NET_MTU)", D.Mtu, 68, 65535, shown: "none");
    private readonly Option<bool> _sendRarp = Opt.Flag("--send-rarp", "SEND_RARP after setup; the RARP frame must arrive on RX");
    private readonly Option<bool> _dirtyLog = Opt.Flag("--dirty-log",
        "start dirty logging after setup (LOG_ALL, SET_LOG_BASE, log flag on every ring) and check that the log marks exactly the pages written");
    private readonly Option<double> _remapMs = Opt.Number("--remap-ms", "MS",
        "change the memory table every MS ms during the window: SET_MEM_TABLE with another layout of the same memory, or with --mem-slots/--regions > 8, ADD/REM_MEM_REG of an extra region",
        D.RemapIntervalMs, positive: true, shown: "never");
    private readonly Option<int> _reconnects = Opt.Int("--reconnects", "N",
        "before the window, close and reopen the connection N times with the guest running (rings resume at used.idx); each is timed from reopening to the first frame back",
        D.Reconnects, 0, 1000);
    private readonly Option<bool> _resetDevice = Opt.Flag("--reset-device", "before the window, RESET_DEVICE and start the device again on the same connection (rings resume at used.idx)");

    // Measurement
    private readonly Option<string?> _backendStats = Opt.Path("--backend-stats", "the back-end's --stats-socket: adds its CPU time and counters");
    private readonly Option<int> _backendPid = Opt.Int("--backend-pid", "PID", "the back-end's pid: adds its CPU time from /proc (e.g. DPDK)", D.BackendPid, 1, shown: "");
    private readonly Option<string> _backendLabel = Opt.Text("--backend-label", "NAME", "how to call the back-end in the output", D.BackendLabel);
    private readonly Option<int> _cpu = Opt.Int("--cpu", "N", "pin the traffic thread to CPU N", D.Cpu, 0, 1023, shown: "no pinning");
    private readonly Option<bool> _json = Opt.Flag("--json", "print JSON instead of the human summary (with --trials: one line per trial)");
    private readonly Option<bool> _measureSleep = Opt.Flag("--measure-sleep",
        "measure what each way of waiting really costs here (Thread.Sleep, Yield, nanosleep with 50 us and 1 us timer slack, epoll timeouts) and print a table; no connection is made");

    private readonly PollOptionSet _poll = new();

    public LoadGenCommand()
    {
        _burst.Aliases.Add("--batch");
        var root = new RootCommand("""
            perflab-loadgen: plays QEMU and the guest's virtio-net driver against a vhost-user back-end
            (PerfLab's, or DPDK's vhost PMD), with no VM.

            Exit status: 0 when every frame came back in order (and the protocol exercises asked for
            succeeded: dirty log exact, reconnects completed, RARP received; with --trials: no errors,
            loss allowed), 1 on loss, sequence, payload or protocol errors, 2 on bad usage.
            """);
        OptionHelp.Install(root, "perflab-loadgen",
            ("Connection", [.. _sockets.All, _listen, _connectTimeout, _order]),
            ("Traffic", [_duration, _warmup, _size, _queueSize, _burst, _rate, _inflight, _queues, _txOnly]),
            ("Loss trials (NDR/PDR)", [_lossy, _trials, _trialGap]),
            ("Guest features", [_noEventIdx, _packed, _mergeable, _indirect, _inOrder, _rxBufSize, _callFds, _memoryMb, _regions, _memSlots, _identityGpa, _verify]),
            ("Protocol exercises", [_mtu, _sendRarp, _dirtyLog, _remapMs, _reconnects, _resetDevice]),
            ("Waiting for completions (the guest's strategy)", _poll.All),
            ("Measurement", [_backendStats, _backendPid, _backendLabel, _cpu, _json, _measureSleep]));
        Root = root;
    }

    public RootCommand Root { get; }

    /// <summary>Parses a command line (tests and the bench): throws <see cref="ArgumentException"/> on bad usage.</summary>
    public LoadGenInvocation Parse(string[] args) => Bind(CliRunner.Parse(Root, args));

    public LoadGenInvocation Bind(ParseResult r)
    {
        IReadOnlyList<string> sockets = _sockets.Bind(r);
        var o = new LoadGenOptions
        {
            SocketPath = sockets[0],
            Listen = r.GetValue(_listen),
            ConnectTimeoutS = r.GetValue(_connectTimeout),
            Order = r.GetValue(_order),
            DurationS = r.GetValue(_duration),
            WarmupS = r.GetValue(_warmup),
            FrameSize = r.GetValue(_size),
            QueueSize = r.GetValue(_queueSize),
            Burst = r.GetValue(_burst),
            RatePps = r.GetValue(_rate),
            MaxInFlight = r.GetValue(_inflight),
            Queues = r.GetValue(_queues),
            TxOnly = r.GetValue(_txOnly),
            Lossy = r.GetValue(_lossy),
            EventIdx = !r.GetValue(_noEventIdx),
            Packed = r.GetValue(_packed),
            Mergeable = r.GetValue(_mergeable),
            Indirect = r.GetValue(_indirect),
            InOrder = r.GetValue(_inOrder),
            RxBufSize = r.GetValue(_rxBufSize),
            CallFds = r.GetValue(_callFds),
            MemoryMb = r.GetValue(_memoryMb),
            Regions = r.GetValue(_regions),
            MemSlots = r.GetValue(_memSlots),
            IdentityGpa = r.GetValue(_identityGpa),
            Verify = r.GetValue(_verify),
            Mtu = r.GetValue(_mtu),
            SendRarp = r.GetValue(_sendRarp),
            DirtyLog = r.GetValue(_dirtyLog),
            RemapIntervalMs = r.GetValue(_remapMs),
            Reconnects = r.GetValue(_reconnects),
            ResetDevice = r.GetValue(_resetDevice),
            BackendStatsSocket = r.GetValue(_backendStats),
            BackendPid = r.GetValue(_backendPid),
            BackendLabel = r.GetValue(_backendLabel)!,
            Cpu = r.GetValue(_cpu),
            Poll = _poll.Bind(r),
        };
        if (o.Burst > o.QueueSize)
        {
            throw new ArgumentException($"--burst {o.Burst} exceeds --queue-size {o.QueueSize}");
        }
        LoadGenOptions[] devices = sockets.Count == 1 ? [o] : [.. sockets.Select(s => o with
        {
            SocketPath = s,
            RatePps = o.RatePps / sockets.Count,
            MaxInFlight = o.MaxInFlight > 0 ? Math.Max(1, o.MaxInFlight / sockets.Count) : 0,
        })];
        if (devices.Length > 1 && (o.Listen || o.Reconnects > 0 || o.ResetDevice || o.DirtyLog || o.RemapIntervalMs > 0 || o.SendRarp))
        {
            throw new ArgumentException("several devices: --listen and the protocol exercises (--reconnects, --reset-device, --dirty-log, --remap-ms, --send-rarp) take one device");
        }
        return new LoadGenInvocation(devices[0], r.GetValue(_json), r.GetValue(_measureSleep), r.GetValue(_trials)!, r.GetValue(_trialGap), devices);
    }

    /// <summary>Device <paramref name="d"/>'s socket in a folder, named as perflab-backend's
    /// <c>--sockets DIR --devices N</c> names them.</summary>
    public static string SocketInFolder(string dir, int d) => Path.Combine(dir, $"vhost-{d}.sock");
}

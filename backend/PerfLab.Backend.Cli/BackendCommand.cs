using System.CommandLine;
using System.Globalization;
using PerfLab.Backend.Devices;
using PerfLab.Backend.Logging;
using PerfLab.Backend.Server;
using PerfLab.CliOptions;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Backend.Cli;

/// <summary>
/// perflab-backend's options, each defined once (name, value, description, default from
/// <see cref="BackendOptions"/> and <see cref="NetDeviceOptions"/>, range), and their binding.
/// </summary>
public sealed class BackendCommand
{
    private static readonly BackendOptions D = new();
    private static readonly NetDeviceOptions DD = new();

    /// <summary>--disable-features names.</summary>
    public static readonly (string Name, ulong Bits)[] FeatureNames =
    [
        ("event-idx", VirtioFeatures.RingEventIdx), ("indirect", VirtioFeatures.RingIndirectDesc), ("mrg-rxbuf", VirtioFeatures.NetMrgRxbuf),
        ("mq", VirtioFeatures.NetMq), ("in-order", VirtioFeatures.InOrder), ("mtu", VirtioFeatures.NetMtu), ("log-all", VirtioFeatures.LogAll),
    ];

    /// <summary>--disable-protocol names.</summary>
    public static readonly (string Name, ulong Bits)[] ProtocolNames =
    [
        ("reply-ack", ProtocolFeatures.ReplyAck), ("status", ProtocolFeatures.Status), ("backend-req", ProtocolFeatures.BackendReq),
        ("mq", ProtocolFeatures.Mq), ("log-shmfd", ProtocolFeatures.LogShmfd), ("rarp", ProtocolFeatures.Rarp), ("net-mtu", ProtocolFeatures.NetMtu),
        ("reset-device", ProtocolFeatures.ResetDevice), ("mem-slots", ProtocolFeatures.ConfigureMemSlots),
    ];

    // Connection
    private readonly DeviceSocketOptions _sockets = new(D.SocketPath,
        "UNIX socket path of one device; give it again for more devices (device d is the d-th)",
        "with --devices N: devices on DIR/vhost-0.sock .. DIR/vhost-<N-1>.sock",
        "how many devices --sockets makes",
        BackendOptions.SocketInFolder, devicesCountSockets: false);
    private readonly Option<bool> _client = Opt.Flag("--client",
        "connect to a front-end that listens (QEMU server=on, DPDK virtio-user server=1) instead of listening; reconnects after every disconnect");
    private readonly Option<double> _reconnectMinMs = Opt.Number("--reconnect-min-ms", "MS", "client mode: first retry delay, doubling", D.ReconnectMin.TotalMilliseconds, positive: true);
    private readonly Option<double> _reconnectMaxMs = Opt.Number("--reconnect-max-ms", "MS", "client mode: retry delay cap", D.ReconnectMax.TotalMilliseconds, positive: true);
    private readonly Option<Mono.Unix.Native.FilePermissions> _socketMode = Opt.Of("--socket-mode", "OCTAL",
        "permissions of the listening socket, 600..777", D.SocketMode, TrySocketMode, shown: Convert.ToString((int)D.SocketMode, 8));
    private readonly Option<double> _firstMessageS = Opt.Number("--first-message-s", "S",
        "drop a connection silent for S seconds after connecting (0: off)", D.FirstMessageTimeout.TotalSeconds);
    private readonly Option<double> _replyTimeoutS = Opt.Number("--reply-timeout-s", "S",
        "end a session whose front-end does not read a reply for S seconds (0: off)", D.ReplyTimeout.TotalSeconds);
    private readonly Option<int> _maxSessions = Opt.Int("--max-sessions", "N", "exit after N sessions, all devices together", D.MaxSessions, 1, shown: "serve forever");

    // Device
    private readonly Option<NetMode> _mode = Opt.Choice("--mode",
        "loopback: every TX frame comes back on the same queue pair's RX with source and destination MAC swapped; "
        + "sink: count and drop, without reading the frame; copy: copy each frame once into one of the back-end's own 2 KiB slots (--copy-slots), "
        + "then drop (one ring, one copy: the like-for-like of a C ring loopback and of DPDK's vhost dequeue into mbufs)",
        DD.Mode, [("loopback", NetMode.Loopback), ("sink", NetMode.Sink), ("copy", NetMode.Copy)]);
    private readonly Option<CopySlotUse> _copySlots = Opt.Choice("--copy-slots",
        "copy mode: reuse: the i-th frame of a round goes into slot i, the same slots every round (as DPDK's rxonly reuses the mbufs "
        + "its per-core cache gives back); rotate: 256 slots in turn, one per frame (before 2026-12-03; docs/envelope.md)",
        DD.CopySlots, [("reuse", CopySlotUse.Reuse), ("rotate", CopySlotUse.Rotate)]);
    private readonly Option<bool> _dropWhenFull = Opt.Flag("--drop-when-full",
        "loopback: drop and count frames when the guest posted no RX buffer (default: back-pressure, the frame waits on TX)");
    private readonly Option<TxReturn> _txReturn = Opt.Choice("--tx-return",
        "when TX buffers go back to the guest: with each burst; auto: a burst of 32 or more one burst late on rings of 512 and more, "
        + "a smaller one at once (keeps DPDK's virtio PMD out of its whole-ring reclaim at queue 1024; immediate under --poll backoff); "
        + "or every burst one burst late. Split rings; a held burst goes back after empty rounds and before the worker sleeps (docs/envelope.md)",
        DD.TxReturn, [("immediate", TxReturn.Immediate), ("auto", TxReturn.Auto), ("deferred", TxReturn.Deferred)]);
    private readonly Option<int> _batch = Opt.Int("--batch", "N", "most frames taken from a TX queue per round", DD.Batch, 1, 4096);
    private readonly Option<int> _queues = Opt.Int("--queues", "N", "queue pairs offered (GET_QUEUE_NUM; MQ offered if N > 1)", DD.MaxQueuePairs, 1, 128);
    private readonly Option<int> _workers = Opt.Int("--workers", "N", "worker threads polling every device's queues",
        D.Workers, 1, 1024, shown: "one per K queue pairs of one device, K from --pairs-per-worker");
    private readonly Option<int> _pairsPerWorker = Opt.Int("--pairs-per-worker", "K",
        "queue pairs dealt to a worker at a time, round-robin over the workers: pair 0 of every device first, then pair 1, ...", DD.PairsPerWorker, 1, 128);
    private readonly Option<IReadOnlyDictionary<(int Device, int Pair), int>> _queueAffinity = Opt.Of("--queue-affinity", "LIST",
        "pin queue pairs to workers, DEVICE:PAIR=WORKER,... (as OVS's pmd-rxq-affinity); the others are dealt round-robin",
        D.QueueAffinity, TryAffinity, shown: "");
    private readonly Option<int[]> _cpus = Opt.CpuList("--cpus", "pin worker i to CPU LIST[i % n], e.g. 1, 0,1 or 0-3 (default: no pinning)");
    private readonly Option<ulong> _disableFeatures = Opt.Mask("--disable-features",
        "withhold virtio features: " + string.Join(',', FeatureNames.Select(f => f.Name)) + " or 0xMASK (docs/features.md: what is offered, and why)", FeatureNames);
    private readonly Option<ulong> _disableProtocol = Opt.Mask("--disable-protocol",
        "withhold protocol features: " + string.Join(',', ProtocolNames.Select(f => f.Name)) + " or 0xMASK", ProtocolNames);

    // Output
    private readonly Option<double> _statsInterval = Opt.Number("--stats-interval", "S", "seconds between stats lines on stdout (0: none)", D.StatsInterval);
    private readonly Option<string?> _statsSocket = Opt.Path("--stats-socket", "serve a JSON snapshot of all counters to every connection");
    private readonly Option<string?> _statsJson = Opt.Path("--stats-json", "write the final counters as JSON on exit");
    private readonly Option<bool> _quiet = Opt.Flag("--quiet", "warnings and errors only");

    private readonly PollOptionSet _poll = new();

    // The back-end's own polling knobs (the guest does not coalesce its calls).
    private readonly Option<int> _hybridKickBatch = Opt.Int("--hybrid-kick-batch", "K",
        "hybrid, with EVENT_IDX: while frames flow, arm for a kick per K buffers (avail_event K ahead, NIC-style rx-frames moderation) "
        + "so that one wake-up serves several bursts; each such sleep lasts at most --hybrid-kick-timeout-us (0 or 1: a kick per buffer; docs/polling.md)",
        PollDefaults.HybridKickBatch, min: 0);

    private readonly Option<double> _hybridKickTimeoutUs = Opt.Number("--hybrid-kick-timeout-us", "US",
        "hybrid with --hybrid-kick-batch: the longest coalesced sleep, the bound on a lone frame's wait (epoll_pwait2; rx-usecs)",
        PollDefaults.HybridKickTimeoutUs, positive: true);

    private readonly Option<double> _hybridKickFillUs = Opt.Number("--hybrid-kick-fill-us", "US",
        "hybrid with --hybrid-kick-batch: the batch follows the rate so that it fills, wake-up included, in about US "
        + "(NIC adaptive moderation), K its ceiling; the timeout is then at least 2 x US (0: the batch stays K)",
        PollDefaults.HybridKickFillUs, min: 0);

    // An enum, not a bool: System.CommandLine takes a bool option for a flag.
    private enum KickFds
    {
        Level,
        Edge,
    }

    private readonly Option<KickFds> _kickFds = Opt.Choice("--kick-fds",
        "how a sleeping worker waits on the kick eventfds: edge (epoll edge-triggered, nothing read: a system call fewer per wake-up; docs/polling.md) "
        + "or level (level-triggered, each wake-up reads the fd to zero)", PollDefaults.EdgeTriggeredKicks ? KickFds.Edge : KickFds.Level, [("level", KickFds.Level), ("edge", KickFds.Edge)]);

    private static readonly PerfLab.Vhost.Polling.PollOptions PollDefaults = new();

    public BackendCommand()
    {
        var root = new RootCommand("""
            perflab-backend: a vhost-user back-end for virtio-net devices, one per socket file. Stops on
            SIGINT or SIGTERM, printing a summary with CPU time and GC counts. The polling options are
            per worker.
            """);
        OptionHelp.Install(root, "perflab-backend",
            ("Connection", [.. _sockets.All, _client, _reconnectMinMs, _reconnectMaxMs, _socketMode, _firstMessageS, _replyTimeoutS, _maxSessions]),
            ("Device", [_mode, _copySlots, _dropWhenFull, _batch, _txReturn, _queues, _workers, _pairsPerWorker, _queueAffinity, _cpus, _disableFeatures, _disableProtocol]),
            ("Polling (per worker)", [.. _poll.All, _hybridKickBatch, _hybridKickTimeoutUs, _hybridKickFillUs, _kickFds]),
            ("Output", [_statsInterval, _statsSocket, _statsJson, _quiet]));
        Root = root;
    }

    public RootCommand Root { get; }

    /// <summary>Parses a command line (tests): throws <see cref="ArgumentException"/> on bad usage.</summary>
    public BackendOptions Parse(string[] args) => Bind(CliRunner.Parse(Root, args));

    public BackendOptions Bind(ParseResult r)
    {
        if (r.GetValue(_quiet))
        {
            Log.MinimumLevel = Microsoft.Extensions.Logging.LogLevel.Warning;
        }
        int[] cpus = r.GetValue(_cpus)!;
        var o = new BackendOptions
        {
            SocketPaths = _sockets.Bind(r),
            Client = r.GetValue(_client),
            ReconnectMin = TimeSpan.FromMilliseconds(r.GetValue(_reconnectMinMs)),
            ReconnectMax = TimeSpan.FromMilliseconds(r.GetValue(_reconnectMaxMs)),
            SocketMode = r.GetValue(_socketMode),
            FirstMessageTimeout = TimeSpan.FromSeconds(r.GetValue(_firstMessageS)),
            ReplyTimeout = TimeSpan.FromSeconds(r.GetValue(_replyTimeoutS)),
            Workers = r.GetValue(_workers),
            QueueAffinity = r.GetValue(_queueAffinity)!,
            MaxSessions = r.GetValue(_maxSessions),
            StatsInterval = r.GetValue(_statsInterval),
            StatsSocket = r.GetValue(_statsSocket),
            StatsJson = r.GetValue(_statsJson),
            Device = DD with
            {
                Mode = r.GetValue(_mode),
                CopySlots = r.GetValue(_copySlots),
                Backpressure = !r.GetValue(_dropWhenFull),
                Batch = r.GetValue(_batch),
                TxReturn = r.GetValue(_txReturn),
                MaxQueuePairs = r.GetValue(_queues),
                PairsPerWorker = r.GetValue(_pairsPerWorker),
                Cpus = cpus.Length > 0 ? cpus : null,
                DisabledFeatures = r.GetValue(_disableFeatures),
                DisabledProtocolFeatures = r.GetValue(_disableProtocol),
                Poll = _poll.Bind(r) with
                {
                    HybridKickBatch = r.GetValue(_hybridKickBatch),
                    HybridKickTimeoutUs = r.GetValue(_hybridKickTimeoutUs),
                    HybridKickFillUs = r.GetValue(_hybridKickFillUs),
                    EdgeTriggeredKicks = r.GetValue(_kickFds) == KickFds.Edge,
                },
            },
        };
        if (o.ReconnectMin > o.ReconnectMax)
        {
            throw new ArgumentException($"--reconnect-min-ms {o.ReconnectMin.TotalMilliseconds} exceeds --reconnect-max-ms {o.ReconnectMax.TotalMilliseconds}");
        }
        return o;
    }

    /// <summary>DEVICE:PAIR=WORKER,... (each a non-negative integer).</summary>
    private static string? TryAffinity(string s, out IReadOnlyDictionary<(int Device, int Pair), int> affinity)
    {
        var map = new Dictionary<(int, int), int>();
        affinity = map;
        foreach (string item in s.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] kv = item.Split('=');
            string[] dp = kv[0].Split(':');
            if (kv.Length != 2 || dp.Length != 2
                || !int.TryParse(dp[0], NumberStyles.None, CultureInfo.InvariantCulture, out int dev)
                || !int.TryParse(dp[1], NumberStyles.None, CultureInfo.InvariantCulture, out int pair)
                || !int.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out int w))
            {
                return $"'{item}' is not DEVICE:PAIR=WORKER";
            }
            map[(dev, pair)] = w;
        }
        return null;
    }

    /// <summary>An octal permission mode for the socket: permission bits only (no setuid,
    /// setgid or sticky), and the owner must be able to connect (read and write).</summary>
    private static string? TrySocketMode(string s, out Mono.Unix.Native.FilePermissions mode)
    {
        mode = 0;
        uint m;
        try
        {
            m = Convert.ToUInt32(s, 8);
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            return $"'{s}' is not an octal mode";
        }
        if (m > 0x1FF || (m & 0x180) != 0x180)
        {
            return $"{s} must be 600..777 in octal: permission bits only, and the owner must be able to read and write";
        }
        mode = (Mono.Unix.Native.FilePermissions)m;
        return null;
    }
}

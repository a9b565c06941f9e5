using System.Globalization;
using System.Runtime.InteropServices;
using PerfLab.Backend.Devices;
using PerfLab.Backend.Logging;
using PerfLab.Backend.Server;
using PerfLab.Vhost.Cli;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Backend.Cli;

public static class Program
{
    private const string Help =
"""
perflab-backend: a vhost-user back-end for virtio-net devices, one per socket file.

Usage: perflab-backend [options]

Connection
  --socket PATH            UNIX socket path of one device (default /tmp/perflab-vhost.sock);
                           give it again for more devices (device d is the d-th)
  --sockets DIR            with --devices N: devices on DIR/vhost-0.sock .. DIR/vhost-<N-1>.sock
  --devices N              how many devices --sockets makes (1)
  --client                 connect to a front-end that listens (QEMU server=on, DPDK
                           virtio-user server=1) instead of listening; reconnects after
                           every disconnect
  --reconnect-min-ms MS    client mode: first retry delay, doubling (10)
  --reconnect-max-ms MS    client mode: retry delay cap (1000)
  --socket-mode OCTAL      permissions of the listening socket, 600..777 (600)
  --first-message-s S      drop a connection silent for S seconds after connecting (10; 0: off)
  --reply-timeout-s S      end a session whose front-end does not read a reply for S seconds
                           (5; 0: off)
  --max-sessions N         exit after N sessions (default: serve forever)

Device
  --mode loopback|sink|copy
                           loopback (default): every TX frame comes back on the same queue
                           pair's RX with source and destination MAC swapped; sink: count and
                           drop, without reading the frame; copy: copy each frame once into the
                           back-end's own 2 KiB slots, then drop (one ring, one copy: the
                           like-for-like of a C virtqueue loopback (scripts/compare-limits)
                           and of DPDK's vhost dequeue into mbufs)
  --drop-when-full         loopback: drop and count frames when the guest posted no RX buffer
                           (default: back-pressure, the frame waits on TX)
  --batch N                most frames taken from a TX queue per round (64)
  --tx-return immediate|auto|deferred
                           when TX buffers go back to the guest: with each burst; auto: a burst
                           of 32 or more one burst late, a smaller one at once (keeps DPDK's
                           virtio PMD out of its whole-ring reclaim at queue 1024; immediate
                           under --poll backoff); or every burst one burst late. Split rings;
                           a held burst goes back after 1024 empty rounds and before the
                           worker sleeps (docs/envelope.md) (auto)
  --queues N               queue pairs offered (GET_QUEUE_NUM; MQ offered if N > 1) (8)
  --workers N              worker threads polling every device's queues (default: one per
                           K queue pairs of one device, K from --pairs-per-worker)
  --pairs-per-worker K     queue pairs dealt to a worker at a time, round-robin over the
                           workers: pair 0 of every device first, then pair 1, ... (1)
  --queue-affinity LIST    pin queue pairs to workers, DEVICE:PAIR=WORKER,... (as OVS's
                           pmd-rxq-affinity); the others are dealt round-robin
  --cpus LIST              pin worker i to CPU LIST[i % n], e.g. 1 or 0,1 (default: no pinning)
  --disable-features LIST  withhold virtio features: event-idx,indirect,mrg-rxbuf,mq,in-order,
                           mtu,log-all or 0xMASK
  --disable-protocol LIST  withhold protocol features: reply-ack,status,backend-req,mq,
                           log-shmfd,rarp,net-mtu,reset-device,mem-slots or 0xMASK
                           (docs/features.md lists what is offered, and why not the rest)

Polling (per worker)
{POLL}
Output
  --stats-interval S       seconds between stats lines on stdout (1; 0: none)
  --stats-socket PATH      serve a JSON snapshot of all counters to every connection
  --stats-json PATH        write the final counters as JSON on exit
  --quiet                  warnings and errors only
  --help                   this text

Stops on SIGINT or SIGTERM, printing a summary with CPU time and GC counts.
""";

    public static int Main(string[] args)
    {
        // A front-end that shrinks guest memory must not kill the daemon: this re-runs the
        // program with the runtime knob that makes such a fault catchable (docs/robustness.md).
        // Only as the process's own program: tests call Main inside their host.
        if (System.Reflection.Assembly.GetEntryAssembly() == typeof(Program).Assembly)
        {
            PerfLab.Vhost.Memory.GuestMemoryFaults.EnsureCatchable();
        }
        BackendOptions o;
        try
        {
            o = Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"perflab-backend: {e.Message} (see --help)");
            return 2;
        }
        if (o is null)
        {
            Console.WriteLine(Help.Replace("{POLL}", PollOptions.HelpText));
            return 0;
        }
        return Run(o);
    }

    private static int Run(BackendOptions o)
    {
        // Signals first: the socket appears as soon as the server is constructed, and a SIGTERM
        // that follows at once must stop the daemon cleanly, not kill it.
        using var stopping = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stopping.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stopping.Cancel(); });
        VhostUserServer server;
        try
        {
            server = new VhostUserServer(o);
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"perflab-backend: {e.Message}");
            return 1;
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"perflab-backend: {e.Message} (see --help)");
            return 2;
        }
        using var stop = stopping.Token.Register(server.Stop); // runs at once if a signal came already
        using var statsServer = o.StatsSocket != null ? new Stats.StatsServer(server.Stats, o.StatsSocket) : null;
        GcSnapshot gc0 = GcSnapshot.Take();
        var printer = o.StatsInterval > 0 ? new Thread(() => PrintLoop(server, o.StatsInterval)) { IsBackground = true, Name = "stats-printer" } : null;
        printer?.Start();
        server.Run();
        BackendStats final = server.Stats.Snapshot();
        GcSnapshot gc = GcSnapshot.Take() - gc0;
        server.Dispose();
        PrintSummary(final, gc);
        if (o.StatsJson != null)
        {
            File.WriteAllText(o.StatsJson, final.ToJson(indented: true));
        }
        return 0;
    }

    private static void PrintLoop(VhostUserServer server, double interval)
    {
        BackendStats prev = Stats.StatsCollector.Accounted(server.Stats.Snapshot);
        while (!server.Stopping.WaitHandle.WaitOne(TimeSpan.FromSeconds(interval)))
        {
            // Booked as the stats machinery's own allocation, not the data plane's.
            prev = Stats.StatsCollector.Accounted(() => PrintOne(server, prev));
        }
    }

    private static BackendStats PrintOne(VhostUserServer server, BackendStats prev)
    {
        BackendStats now = server.Stats.Snapshot();
        double dt = (now.TimestampNs - prev.TimestampNs) / 1e9;
        long pkts = now.Packets - prev.Packets;
        long batches = now.Queues.Where(q => q.Direction == "tx").Sum(q => q.Batches) - prev.Queues.Where(q => q.Direction == "tx").Sum(q => q.Batches);
        long empty = now.Workers.Sum(w => w.EmptyPolls) - prev.Workers.Sum(w => w.EmptyPolls);
        long kicks = now.Queues.Sum(q => q.Kicks) - prev.Queues.Sum(q => q.Kicks);
        long calls = now.Queues.Sum(q => q.Calls) - prev.Queues.Sum(q => q.Calls);
        long wakeups = now.Workers.Sum(w => w.Wakeups) - prev.Workers.Sum(w => w.Wakeups);
        double busy = (now.BusyNs - prev.BusyNs) / 1e9 / dt * 100;
        double cpu = (now.CpuNs - prev.CpuNs) / 1e9 / dt * 100;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"stats: pkts={pkts} mpps={pkts / dt / 1e6:F3} batches={batches} avg_batch={(batches > 0 ? (double)pkts / batches : 0):F1} empty_polls={empty} kicks={kicks} wakeups={wakeups} calls={calls} busy={busy:F0}% cpu={cpu:F0}%"));
        if (now.Devices.Count > 1)
        {
            foreach (DeviceStats dv in now.Devices)
            {
                DeviceStats? was = prev.Devices.FirstOrDefault(x => x.Id == dv.Id);
                long dp = dv.Packets - (was?.Packets ?? 0);
                if (dp > 0 || dv.Connected != (was?.Connected ?? false))
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  device {dv.Id}: pkts={dp} mpps={dp / dt / 1e6:F3} connected={(dv.Connected ? 1 : 0)} sessions={dv.Sessions} faults={dv.Faults}"));
                }
            }
        }
        if (now.Workers.Count > 1 || now.Devices.Count > 1)
        {
            foreach (WorkerStats w in now.Workers)
            {
                WorkerStats? was = prev.Workers.FirstOrDefault(x => x.Id == w.Id);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  worker {w.Id}: queues={w.Queues.Count} rounds={w.Rounds - (was?.Rounds ?? 0)} empty_polls={w.EmptyPolls - (was?.EmptyPolls ?? 0)} wakeups={w.Wakeups - (was?.Wakeups ?? 0)} busy={(w.BusyNs - (was?.BusyNs ?? 0)) / 1e9 / dt * 100:F0}% cpu={(w.CpuNs - (was?.CpuNs ?? 0)) / 1e9 / dt * 100:F0}%"));
            }
        }
        return now;
    }

    private static void PrintSummary(BackendStats s, GcSnapshot gc)
    {
        double busyPerPkt = s.Packets > 0 ? (double)s.BusyNs / s.Packets : 0;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"summary: sessions={s.Sessions} packets={s.Packets} bytes={s.Bytes} busy_ns_per_packet={busyPerPkt:F1} cpu_user={s.CpuUserNs / 1e9:F3}s cpu_sys={s.CpuSysNs / 1e9:F3}s {gc}"));
        foreach (var dv in s.Devices.Where(_ => s.Devices.Count > 1))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  device {dv.Id} ({dv.Socket}): sessions={dv.Sessions} packets={dv.Packets} delivered={dv.Delivered} faults={dv.Faults}{(dv.Error.Length > 0 ? " error=" + dv.Error : "")}"));
        }
        foreach (var q in s.Queues)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  queue {(s.Devices.Count > 1 ? $"{q.Device}." : "")}{q.Index} ({q.Direction}{q.Pair}): packets={q.Packets} batches={q.Batches} kicks={q.Kicks} calls={q.Calls} suppressed={q.CallsSuppressed} rejected={q.Rejected} dropped={q.Dropped} rx_full={q.RxFull}{(q.Fault.Length > 0 ? " fault=" + q.Fault : "")}"));
        }
    }

    /// <summary>Parses the command line; null means --help.</summary>
    public static BackendOptions Parse(string[] args)
    {
        var o = new BackendOptions();
        var d = new NetDeviceOptions();
        var sockets = new List<string>();
        string? socketDir = null;
        int devices = 1;
        var poll = new PollOptions();
        var a = new ArgReader(args);
        while (a.MoveNext())
        {
            if (PollOptions.TryParseArg(a, ref poll))
            {
                continue;
            }
            switch (a.Current)
            {
                case "--help" or "-h": return null!;
                case "--socket": sockets.Add(a.String()); break;
                case "--sockets": socketDir = a.String(); break;
                case "--devices": devices = Positive(a.Int(), "--devices", 4096); break;
                case "--workers": o = o with { Workers = Positive(a.Int(), "--workers", 1024) }; break;
                case "--queue-affinity": o = o with { QueueAffinity = Affinity(a.String()) }; break;
                case "--reply-timeout-s": o = o with { ReplyTimeout = TimeSpan.FromSeconds(a.Double()) }; break;
                case "--client": o = o with { Client = true }; break;
                case "--reconnect-min-ms": o = o with { ReconnectMin = TimeSpan.FromMilliseconds(a.Double()) }; break;
                case "--reconnect-max-ms": o = o with { ReconnectMax = TimeSpan.FromMilliseconds(a.Double()) }; break;
                case "--socket-mode": o = o with { SocketMode = SocketMode(a.String()) }; break;
                case "--first-message-s": o = o with { FirstMessageTimeout = TimeSpan.FromSeconds(a.Double()) }; break;
                case "--max-sessions": o = o with { MaxSessions = a.Int() }; break;
                case "--mode":
                    d = d with
                    {
                        Mode = a.String() switch
                        {
                            "loopback" => NetMode.Loopback,
                            "sink" => NetMode.Sink,
                            "copy" => NetMode.Copy,
                            var m => throw new ArgumentException($"--mode: '{m}' is not loopback, sink or copy"),
                        },
                    };
                    break;
                case "--drop-when-full": d = d with { Backpressure = false }; break;
                case "--tx-return":
                    d = d with
                    {
                        TxReturn = a.String() switch
                        {
                            "immediate" => TxReturn.Immediate,
                            "auto" => TxReturn.Auto,
                            "deferred" => TxReturn.Deferred,
                            var m => throw new ArgumentException($"--tx-return: '{m}' is not immediate, auto or deferred"),
                        },
                    };
                    break;
                case "--batch": d = d with { Batch = Positive(a.Int(), "--batch", 4096) }; break;
                case "--queues": d = d with { MaxQueuePairs = Positive(a.Int(), "--queues", 128) }; break;
                case "--pairs-per-worker": d = d with { PairsPerWorker = Positive(a.Int(), "--pairs-per-worker", 128) }; break;
                case "--cpus": d = d with { Cpus = a.String().Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray() }; break;
                case "--disable-features": d = d with { DisabledFeatures = FeatureList(a.String(), features: true) }; break;
                case "--disable-protocol": d = d with { DisabledProtocolFeatures = FeatureList(a.String(), features: false) }; break;
                case "--stats-interval": o = o with { StatsInterval = a.Double() }; break;
                case "--stats-socket": o = o with { StatsSocket = a.String() }; break;
                case "--stats-json": o = o with { StatsJson = a.String() }; break;
                case "--quiet": Log.MinimumLevel = Microsoft.Extensions.Logging.LogLevel.Warning; break;
                default: throw new ArgumentException($"unknown option {a.Current}");
            }
        }
        if (socketDir != null && sockets.Count > 0)
        {
            throw new ArgumentException("--socket and --sockets: give one or the other");
        }
        if (socketDir == null && devices != 1)
        {
            throw new ArgumentException("--devices needs --sockets DIR");
        }
        if (socketDir != null)
        {
            sockets.AddRange(Enumerable.Range(0, devices).Select(i => BackendOptions.SocketInFolder(socketDir, i)));
        }
        if (sockets.Count > 0)
        {
            o = o with { SocketPaths = sockets };
        }
        if (sockets.Distinct().Count() != sockets.Count)
        {
            throw new ArgumentException("--socket: the same path twice");
        }
        return o with { Device = d with { Poll = poll } };
    }

    /// <summary>An octal permission mode for the socket: permission bits only (no setuid,
    /// setgid or sticky), and the owner must be able to connect (read and write).</summary>
    private static Mono.Unix.Native.FilePermissions SocketMode(string s)
    {
        uint m;
        try
        {
            m = Convert.ToUInt32(s, 8);
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            throw new ArgumentException($"--socket-mode: '{s}' is not an octal mode");
        }
        if (m > 0x1FF || (m & 0x180) != 0x180)
        {
            throw new ArgumentException($"--socket-mode: {s} must be 600..777 in octal: permission bits only, and the owner must be able to read and write");
        }
        return (Mono.Unix.Native.FilePermissions)m;
    }

    /// <summary>DEVICE:PAIR=WORKER,...</summary>
    private static Dictionary<(int, int), int> Affinity(string s)
    {
        var map = new Dictionary<(int, int), int>();
        foreach (string item in s.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] kv = item.Split('=');
            string[] dp = kv[0].Split(':');
            if (kv.Length != 2 || dp.Length != 2
                || !int.TryParse(dp[0], NumberStyles.None, CultureInfo.InvariantCulture, out int dev)
                || !int.TryParse(dp[1], NumberStyles.None, CultureInfo.InvariantCulture, out int pair)
                || !int.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out int w))
            {
                throw new ArgumentException($"--queue-affinity: '{item}' is not DEVICE:PAIR=WORKER");
            }
            map[(dev, pair)] = w;
        }
        return map;
    }

    private static int Positive(int v, string name, int max) =>
        v >= 1 && v <= max ? v : throw new ArgumentException($"{name} must be 1..{max}");

    private static ulong FeatureList(string s, bool features)
    {
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            return ulong.Parse(s[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }
        ulong mask = 0;
        foreach (string n in s.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            mask |= (features, n) switch
            {
                (true, "event-idx") => VirtioFeatures.RingEventIdx,
                (true, "indirect") => VirtioFeatures.RingIndirectDesc,
                (true, "mrg-rxbuf") => VirtioFeatures.NetMrgRxbuf,
                (true, "mq") => VirtioFeatures.NetMq,
                (true, "in-order") => VirtioFeatures.InOrder,
                (true, "mtu") => VirtioFeatures.NetMtu,
                (true, "log-all") => VirtioFeatures.LogAll,
                (false, "reply-ack") => ProtocolFeatures.ReplyAck,
                (false, "status") => ProtocolFeatures.Status,
                (false, "backend-req") => ProtocolFeatures.BackendReq,
                (false, "mq") => ProtocolFeatures.Mq,
                (false, "log-shmfd") => ProtocolFeatures.LogShmfd,
                (false, "rarp") => ProtocolFeatures.Rarp,
                (false, "net-mtu") => ProtocolFeatures.NetMtu,
                (false, "reset-device") => ProtocolFeatures.ResetDevice,
                (false, "mem-slots") => ProtocolFeatures.ConfigureMemSlots,
                _ => throw new ArgumentException($"unknown feature '{n}'"),
            };
        }
        return mask;
    }
}

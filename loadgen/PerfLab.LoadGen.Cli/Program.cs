using PerfLab.LoadGen.Results;
using PerfLab.Vhost.Cli;
using PerfLab.Vhost.Polling;

namespace PerfLab.LoadGen.Cli;

public static class Program
{
    private const string Help =
"""
perflab-loadgen: plays QEMU and the guest's virtio-net driver against a vhost-user back-end
(PerfLab's, or DPDK's vhost PMD), with no VM.

Usage: perflab-loadgen [options]

Connection
  --socket PATH            the back-end's socket (default /tmp/perflab-vhost.sock)
  --listen                 listen on PATH and wait for a back-end in client mode
  --connect-timeout S      give up connecting after S seconds (10)
  --order qemu|dpdk        handshake order to replay (qemu: QEMU 7.2's; dpdk: virtio-user's)

Traffic
  --duration S             measured window in seconds (5)
  --warmup S               traffic before the window, not measured (1)
  --size BYTES             Ethernet frame size, without the 12-byte virtio-net header (64)
  --queue-size N           ring size, a power of two (256)
  --batch N, --burst N     frames posted per publish, hence at most one kick per N (32)
  --rate PPS               open-loop offered load, all pairs together (k/M suffixes ok);
                           latency is measured from each burst's scheduled time
                           (default: as fast as the rings allow)
  --inflight N             at most N frames in flight, all pairs together (default: per pair,
                           as many as the posted RX buffers hold, so a back-end that drops
                           without RX buffers never has to); --burst 1 --inflight 1 is a
                           ping-pong (the latency floor)
  --queues N               queue pairs (1); needs MQ from the back-end. As QEMU does, pairs
                           after the first are enabled only after DRIVER_OK
  --tx-only                send only and count TX completions (back-end in sink mode)

Guest features
  --no-event-idx           do not negotiate EVENT_IDX (use the ring flags)
  --packed                 negotiate RING_PACKED: packed virtqueues instead of split ones
  --mergeable              negotiate MRG_RXBUF; with --rx-buf-size below header + frame,
                           every frame spans several RX buffers (num_buffers checked)
  --indirect               negotiate INDIRECT_DESC: every TX and RX buffer is posted as an
                           indirect table of two descriptors (header, then frame)
  --in-order               negotiate IN_ORDER: TX buffers go out in ring order and may come
                           back in batches of one used element
  --rx-buf-size BYTES      RX buffer size (default header + frame, at least 2048)
  --call-fds auto|always|never
                           give the back-end call eventfds (auto: only if --poll sleeps)
  --memory-mb N            guest RAM size (default: what the rings need)
  --regions N              guest RAM in N memfd regions (1); more than 8 need
                           CONFIGURE_MEM_SLOTS (ADD_MEM_REG), up to 509
  --mem-slots              send the table as ADD_MEM_REG messages even for 8 regions or fewer
  --identity-gpa           guest-physical address = our virtual address (as DPDK virtio-user)
  --verify                 check every received payload byte (slow)

Protocol exercises
  --mtu N                  NET_SET_MTU N at DRIVER_OK (negotiates NET_MTU)
  --send-rarp              SEND_RARP after setup; the RARP frame must arrive on RX
  --dirty-log              start dirty logging after setup (LOG_ALL, SET_LOG_BASE, log flag on
                           every ring) and check that the log marks exactly the pages written
  --remap-ms MS            change the memory table every MS ms during the window:
                           SET_MEM_TABLE with another layout of the same memory, or with
                           --mem-slots/--regions > 8, ADD/REM_MEM_REG of an extra region
  --reconnects N           before the window, close and reopen the connection N times with
                           the guest running (rings resume at used.idx); each reconnect is
                           timed from reopening to the first frame back (reconnect_ms)
  --reset-device           before the window, RESET_DEVICE and start the device again on
                           the same connection (rings resume at used.idx)

Waiting for completions (the guest's strategy)
{POLL}
Measurement
  --backend-stats PATH     the back-end's --stats-socket: adds its CPU time and counters
  --backend-pid PID        the back-end's pid: adds its CPU time from /proc (e.g. DPDK)
  --backend-label NAME     how to call the back-end in the output
  --cpu N                  pin the traffic thread to CPU N
  --json                   print one JSON object instead of the human summary
  --measure-sleep          measure what each way of waiting really costs here (Thread.Sleep,
                           Yield, nanosleep with 50 us and 1 us timer slack, epoll timeouts)
                           and print a table; no connection is made
  --help                   this text

Exit status: 0 when every frame came back in order (and the protocol exercises asked for
succeeded: dirty log exact, reconnects completed, RARP received), 1 on loss, sequence,
payload or protocol errors, 2 on bad usage.
""";

    public static int Main(string[] args)
    {
        LoadGenOptions? o;
        bool json;
        try
        {
            (o, json) = Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"perflab-loadgen: {e.Message} (see --help)");
            return 2;
        }
        if (o == null)
        {
            Console.WriteLine(Help.Replace("{POLL}", PollOptions.HelpText));
            return 0;
        }
        if (args.Contains("--measure-sleep"))
        {
            Console.Write(SleepProbe.Format(SleepProbe.Measure(w => Console.Error.WriteLine($"measuring {w}"))));
            return 0;
        }
        if (o.Poll.Mode == PollMode.Busy && Environment.ProcessorCount < 2)
        {
            Console.Error.WriteLine("perflab-loadgen: refusing --poll busy on a single CPU (it would starve the back-end)");
            return 2;
        }
        using var gen = new LoadGenerator(o);
        LoadGenResult r;
        try
        {
            gen.Setup();
            r = gen.Run();
            gen.Teardown();
        }
        catch (Exception e) when (e is IOException or TimeoutException or PerfLab.Vhost.Protocol.VhostProtocolException)
        {
            Console.Error.WriteLine($"perflab-loadgen: {e.Message}");
            return 1;
        }
        Console.Write(json ? r.ToJson() + Environment.NewLine : ResultText.Human(r));
        bool ok = r.Lost == 0 && r.SeqErrors == 0 && r.Corrupt == 0 && r.VerifyErrors == 0 && r.BadIds == 0 && r.RingErrors == 0
            && r.DirtyLogMismatches <= 0 && !r.ReconnectMs.Contains(-1) && (!o.SendRarp || r.RarpReceived > 0);
        return ok ? 0 : 1;
    }

    public static (LoadGenOptions? Options, bool Json) Parse(string[] args)
    {
        var o = new LoadGenOptions();
        var poll = new PollOptions();
        bool json = false;
        var a = new ArgReader(args);
        while (a.MoveNext())
        {
            if (PollOptions.TryParseArg(a, ref poll))
            {
                continue;
            }
            switch (a.Current)
            {
                case "--help" or "-h": return (null, false);
                case "--socket": o = o with { SocketPath = a.String() }; break;
                case "--listen": o = o with { Listen = true }; break;
                case "--connect-timeout": o = o with { ConnectTimeoutS = a.Double() }; break;
                case "--order": o = o with { Order = Enum.Parse<HandshakeOrder>(a.String(), ignoreCase: true) }; break;
                case "--duration": o = o with { DurationS = a.Double() }; break;
                case "--warmup": o = o with { WarmupS = a.Double() }; break;
                case "--size": o = o with { FrameSize = Range(a.Int(), "--size", 38, 65535) }; break;
                case "--queue-size":
                    int qs = a.Int();
                    o = o with { QueueSize = qs >= 1 && qs <= 32768 && (qs & (qs - 1)) == 0 ? qs : throw new ArgumentException("--queue-size must be a power of two in 1..32768") };
                    break;
                case "--batch" or "--burst": o = o with { Burst = Range(a.Int(), a.Current, 1, 32768) }; break;
                case "--rate":
                    string rate = a.String();
                    o = o with { RatePps = ArgReader.TryParseScaled(rate, out long pps) && pps > 0 ? pps : throw new ArgumentException($"--rate: '{rate}' is not a positive rate") };
                    break;
                case "--queues": o = o with { Queues = Range(a.Int(), "--queues", 1, 128) }; break;
                case "--inflight": o = o with { MaxInFlight = Range(a.Int(), "--inflight", 1, 1 << 24) }; break;
                case "--tx-only": o = o with { TxOnly = true }; break;
                case "--no-event-idx": o = o with { EventIdx = false }; break;
                case "--mergeable": o = o with { Mergeable = true }; break;
                case "--packed": o = o with { Packed = true }; break;
                case "--indirect": o = o with { Indirect = true }; break;
                case "--in-order": o = o with { InOrder = true }; break;
                case "--mem-slots": o = o with { MemSlots = true }; break;
                case "--mtu": o = o with { Mtu = Range(a.Int(), "--mtu", 68, 65535) }; break;
                case "--send-rarp": o = o with { SendRarp = true }; break;
                case "--dirty-log": o = o with { DirtyLog = true }; break;
                case "--remap-ms":
                    double ms = a.Double();
                    o = o with { RemapIntervalMs = ms > 0 ? ms : throw new ArgumentException("--remap-ms must be positive") };
                    break;
                case "--reset-device": o = o with { ResetDevice = true }; break;
                case "--reconnects": o = o with { Reconnects = Range(a.Int(), "--reconnects", 0, 1000) }; break;
                case "--rx-buf-size": o = o with { RxBufSize = Range(a.Int(), "--rx-buf-size", 64, 65536) }; break;
                case "--call-fds": o = o with { CallFds = Enum.Parse<CallFdPolicy>(a.String(), ignoreCase: true) }; break;
                case "--memory-mb": o = o with { MemoryMb = Range(a.Int(), "--memory-mb", 1, 1 << 20) }; break;
                case "--regions": o = o with { Regions = Range(a.Int(), "--regions", 1, 509) }; break;
                case "--identity-gpa": o = o with { IdentityGpa = true }; break;
                case "--verify": o = o with { Verify = true }; break;
                case "--backend-stats": o = o with { BackendStatsSocket = a.String() }; break;
                case "--backend-pid": o = o with { BackendPid = a.Int() }; break;
                case "--backend-label": o = o with { BackendLabel = a.String() }; break;
                case "--cpu": o = o with { Cpu = a.Int() }; break;
                case "--json": json = true; break;
                case "--measure-sleep": break;
                default: throw new ArgumentException($"unknown option {a.Current}");
            }
        }
        if (o.Burst > o.QueueSize)
        {
            throw new ArgumentException($"--burst {o.Burst} exceeds --queue-size {o.QueueSize}");
        }
        return (o with { Poll = poll }, json);
    }

    private static int Range(int v, string name, int min, int max) =>
        v >= min && v <= max ? v : throw new ArgumentException($"{name} must be {min}..{max}");
}

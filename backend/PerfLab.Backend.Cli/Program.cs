using System.Globalization;
using System.Runtime.InteropServices;
using PerfLab.Backend.Devices;
using PerfLab.Backend.Logging;
using PerfLab.Backend.Server;
using PerfLab.CliOptions;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Protocol;

namespace PerfLab.Backend.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        // A front-end that shrinks guest memory must not kill the daemon: this re-runs the
        // program with the runtime knob that makes such a fault catchable (docs/robustness.md).
        // Only as the process's own program: tests call Main inside their host.
        if (System.Reflection.Assembly.GetEntryAssembly() == typeof(Program).Assembly)
        {
            PerfLab.Vhost.Memory.GuestMemoryFaults.EnsureCatchable();
        }
        var command = new BackendCommand();
        return CliRunner.Main(command.Root, "perflab-backend", args, command.Bind, Run);
    }

    /// <summary>Parses a command line; throws <see cref="ArgumentException"/> on bad usage.</summary>
    public static BackendOptions Parse(string[] args) => new BackendCommand().Parse(args);

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
}

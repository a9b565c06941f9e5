using PerfLab.Backend.Control;
using PerfLab.Backend.Devices;
using PerfLab.Backend.Logging;
using PerfLab.Backend.Rings;
using PerfLab.Backend.Stats;
using PerfLab.Backend.Workers;
using PerfLab.Vhost.Interop;

namespace PerfLab.Backend.Server;

/// <summary>
/// The back-end daemon's core: one <see cref="DeviceEndpoint"/> per socket file, each with its
/// own control-plane thread, and one <see cref="WorkerPool"/> whose workers poll every device's
/// queues (<see cref="QueueAssignment"/>). A device whose socket is in use, or for which no
/// file descriptors are left, is reported and left out; the others are served.
/// </summary>
public sealed class VhostUserServer : IDisposable
{
    private readonly BackendOptions _o;
    private readonly WorkerPool _pool;
    private readonly DeviceEndpoint?[] _endpoints;
    private readonly string[] _errors;
    private readonly ManualResetEventSlim _done = new();
    private readonly CancellationTokenSource _cts = new();
    private int _sessions;

    public VhostUserServer(BackendOptions options, bool startWorkers = true)
    {
        _o = options;
        int devices = options.SocketPaths.Count;
        if (devices < 1)
        {
            throw new ArgumentException("no socket: a back-end serves at least one device");
        }
        int per = Math.Max(1, options.Device.PairsPerWorker);
        int workers = options.Workers > 0 ? options.Workers : (options.Device.MaxQueuePairs + per - 1) / per;
        var assignment = new QueueAssignment(devices, workers, per, options.QueueAffinity);
        int servable = FdBudget.DevicesThatFit(devices, options.Device.MaxQueuePairs, workers);
        _endpoints = new DeviceEndpoint?[devices];
        _errors = new string[devices];
        // The sockets first: if none can be set up, nothing else was started.
        _pool = new WorkerPool(workers, options.Device.Poll, options.Device.Cpus, start: false);
        for (int d = 0; d < devices; d++)
        {
            string path = options.SocketPaths[d];
            try
            {
                if (d >= servable)
                {
                    throw new IOException($"not enough file descriptors for {devices} devices of {options.Device.MaxQueuePairs} queue pairs (ulimit -n is {FdBudget.SoftLimit()}; {servable} fit)");
                }
                _endpoints[d] = new DeviceEndpoint(d, path, options, _pool, assignment);
                _errors[d] = "";
            }
            catch (IOException e)
            {
                _errors[d] = e.Message;
                if (devices > 1)
                {
                    Log.Default.DeviceNotServed(d, path, e.Message);
                }
            }
        }
        if (_endpoints.All(e => e == null))
        {
            _pool.Dispose();
            throw new IOException(devices == 1 ? _errors[0] : $"no device could be set up: {_errors[0]}");
        }
        if (startWorkers)
        {
            foreach (Worker w in _pool.Workers)
            {
                w.Start();
            }
        }
        Stats = new StatsCollector(this);
        Sabotage.OnStart(Device);
    }

    /// <summary>The devices, in socket order; null where a device could not be set up.</summary>
    public IReadOnlyList<DeviceEndpoint?> Devices => _endpoints;

    /// <summary>Why device d is not served ("" when it is).</summary>
    public string ErrorOf(int d) => _errors[d];

    public IReadOnlyList<Worker> Workers => _pool.Workers;

    public BackendOptions Options => _o;

    public StatsCollector Stats { get; }

    /// <summary>The first device served (the only one, for a one-socket back-end).</summary>
    public DeviceEndpoint First => _endpoints.First(e => e != null)!;

    public NetDevice Device => First.Device;

    public Vring[] Vrings => First.Vrings;

    /// <summary>The first device's session in progress (tests, diagnostics).</summary>
    public VhostUserSession? CurrentSession => First.CurrentSession;

    /// <summary>Sessions that have ended, all devices together.</summary>
    public int SessionsServed => Volatile.Read(ref _sessions);

    /// <summary>Connections refused while their device served another front-end, all devices together.</summary>
    public int ConnectionsRefused => _endpoints.Sum(e => e?.ConnectionsRefused ?? 0);

    public CancellationToken Stopping => _cts.Token;

    /// <summary>Serves every device until <see cref="Stop"/> (or MaxSessions in all).</summary>
    public void Run()
    {
        foreach (DeviceEndpoint? e in _endpoints)
        {
            e?.Start(OnSessionEnded);
        }
        _done.Wait();
        foreach (DeviceEndpoint? e in _endpoints)
        {
            e?.Stop();
        }
        foreach (DeviceEndpoint? e in _endpoints)
        {
            e?.Join(TimeSpan.FromSeconds(10));
        }
    }

    private void OnSessionEnded()
    {
        int n = Interlocked.Increment(ref _sessions);
        if (_o.MaxSessions > 0 && n >= _o.MaxSessions)
        {
            _done.Set();
        }
    }

    /// <summary>Stops serving: every device's accept loop and session end.</summary>
    public void Stop()
    {
        _cts.Cancel();
        _done.Set();
        foreach (DeviceEndpoint? e in _endpoints)
        {
            e?.Stop();
        }
    }

    public void Dispose()
    {
        Stop();
        foreach (DeviceEndpoint? e in _endpoints)
        {
            e?.Dispose();
        }
        _pool.Dispose();
        _done.Dispose();
    }
}

/// <summary>
/// How many devices the open-file limit allows. A device may hold its listening and session
/// sockets, three eventfds per ring, its memory regions, a dirty log and a back-end request
/// socket; each worker holds an epoll set and an eventfd. The soft limit is raised to the hard
/// one when that is needed.
/// </summary>
internal static class FdBudget
{
    private const int Reserve = 128;   // the runtime, stdio, stats socket, peers' files
    private const int RegionsPerDevice = 8;

    public static int PerDevice(int queuePairs) => 2 + 3 * 2 * queuePairs + RegionsPerDevice + 3;

    public static long SoftLimit() =>
        LibC.GetFdLimit(out ulong soft, out _) ? (long)Math.Min(soft, long.MaxValue) : 1024;

    public static int DevicesThatFit(int devices, int queuePairs, int workers)
    {
        long need = Reserve + 2L * workers + (long)devices * PerDevice(queuePairs);
        if (!LibC.GetFdLimit(out ulong soft, out ulong hard))
        {
            return devices;
        }
        if ((long)Math.Min(soft, long.MaxValue) < need && soft < hard)
        {
            ulong raised = Math.Min(hard, (ulong)need);
            if (LibC.SetFdSoftLimit(raised, hard))
            {
                Log.Default.FdLimitRaised((long)soft, (long)raised, devices);
                soft = raised;
            }
        }
        long fit = ((long)Math.Min(soft, long.MaxValue) - Reserve - 2L * workers) / PerDevice(queuePairs);
        return (int)Math.Clamp(fit, 0, devices);
    }
}

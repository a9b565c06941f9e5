using PerfLab.Bench.EndToEnd;
using PerfLab.LoadGen;
using PerfLab.LoadGen.Trials;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench.Method.Trials;

/// <summary>
/// A density configuration's device under test (issue 14): one perflab-backend serving
/// <see cref="BenchConfiguration.Devices"/> sockets on one worker (<c>--sockets DIR --devices N
/// --workers 1 --drop-when-full</c>, the configuration's strategy, pinned to
/// <see cref="BackendLauncher.BackendCpu"/>), and N load generators in this process, set up
/// once per visit. Every trial goes through <see cref="DeviceSetTrialRunner"/>: the total rate
/// split evenly over the devices, busy guests stepped by one thread pinned to
/// <see cref="BackendLauncher.LoadGenCpu"/>. One device runs the same way, so that 1 and N
/// devices are measured alike.
/// <para>
/// Loss is counted as <see cref="LoadGenTrialTarget"/> counts it, and a trial's figures are
/// kept the same way (<see cref="LoadGenTrialTarget.Outcome"/>).
/// </para>
/// </summary>
public sealed class DensityTrialTarget : ITrialTarget
{
    private readonly IBackendUnderTest _backend;
    private readonly string _dir;
    private readonly List<LoadGenerator> _gens;
    private readonly DeviceSetTrialRunner _runner;

    private DensityTrialTarget(IBackendUnderTest backend, string dir, List<LoadGenerator> gens)
    {
        _backend = backend;
        _dir = dir;
        _gens = gens;
        _runner = new DeviceSetTrialRunner(gens, LoadGenTrialTarget.DrainS) { GapS = 0 };
    }

    /// <summary>Starts the back-end of <paramref name="c"/> (extra back-end arguments appended)
    /// and sets up every device's guest.</summary>
    public static DensityTrialTarget Open(BenchConfiguration c, IReadOnlyList<string> extraBackendArgs, PollMode? backendPollOverride)
    {
        if (c.Peer != Peer.PerfLab || c.Devices < 1)
        {
            throw new ArgumentException($"{c.Id}: a density configuration needs PerfLab's back-end and at least one device");
        }
        string dir = Directory.CreateTempSubdirectory("pld-").FullName;
        IBackendUnderTest? backend = null;
        var gens = new List<LoadGenerator>();
        try
        {
            string sockets = Path.Combine(dir, "sockets");
            Directory.CreateDirectory(sockets);
            backend = PerfLabBackend.StartDevices(sockets, c.Devices, Path.Combine(dir, "stats.sock"), backendPollOverride ?? c.BackendPoll,
                ["--drop-when-full", .. c.BackendArgs, .. extraBackendArgs]);
            for (int d = 0; d < c.Devices; d++)
            {
                var g = new LoadGenerator(LoadGenTrialTarget.GuestOptions(c, Path.Combine(sockets, $"vhost-{d}.sock"), backend) with
                {
                    Cpu = BackendLauncher.LoadGenCpu,
                });
                gens.Add(g);
                g.Setup();
            }
            backend.OnDeviceReady();
            WaitForPollers(backend, c.Devices * c.Pairs);
            return new DensityTrialTarget(backend, dir, gens);
        }
        catch
        {
            Close(gens, backend, dir);
            throw;
        }
    }

    /// <summary>Waits until the back-end's worker polls every device's queue pairs (a device's
    /// session hands its pairs to the worker just after its handshake): a trial started before
    /// would find some devices not yet served.</summary>
    private static void WaitForPollers(IBackendUnderTest backend, int pairs)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (StatsClient.TryFetch(backend.StatsSocket) is not { } s || s.Workers.Sum(w => w.Pollers) < pairs)
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"the back-end's worker did not take all {pairs} queue pairs within 30 s");
            }
            Thread.Sleep(2);
        }
    }

    public TrialOutcome Run(double ratePps, double durationS) => LoadGenTrialTarget.Outcome(_runner.Run(new TrialSpec(ratePps, durationS)));

    public TrialOutcome PingPong(double durationS) => LoadGenTrialTarget.Outcome(_runner.PingPong(durationS));

    public void Dispose() => Close(_gens, _backend, _dir);

    private static void Close(List<LoadGenerator> gens, IBackendUnderTest? backend, string dir)
    {
        foreach (LoadGenerator g in gens)
        {
            try
            {
                g.Teardown();
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                // the back-end may already have ended the session, or set-up failed half-way
            }
            g.Dispose();
        }
        backend?.Dispose();
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

using System.Diagnostics;
using System.Text;
using PerfLab.LoadGen;
using PerfLab.Peers;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench.EndToEnd;

/// <summary>The back-end implementations the suite can run the load against.</summary>
public enum Peer
{
    /// <summary>perflab-backend, this repository's daemon.</summary>
    PerfLab,

    /// <summary>DPDK's testpmd with the vhost PMD in macswap mode: the baseline when installed.</summary>
    Dpdk,
}

/// <summary>
/// The back-end under test, running as its own process as in production, serving a
/// vhost-user socket that the load generator connects to. Implementations: PerfLab's daemon
/// (<see cref="PerfLabBackend"/>) and DPDK's testpmd (<see cref="DpdkBackend"/>).
/// </summary>
public interface IBackendUnderTest : IDisposable
{
    /// <summary>"perflab" or "dpdk": the label in results.</summary>
    string Label { get; }

    int Pid { get; }

    /// <summary>The back-end's stats socket, or null when it has none (its CPU time then
    /// comes from /proc through <see cref="Pid"/>).</summary>
    string? StatsSocket { get; }

    /// <summary>Called once the load generator has set up the device (start forwarding).</summary>
    void OnDeviceReady();
}

/// <summary>Starts the back-end a benchmark case asks for.</summary>
public static class BackendLauncher
{
    /// <summary>The back-end's data-plane thread runs here; the load generator on <see cref="LoadGenCpu"/>.</summary>
    public const int BackendCpu = 1;
    public const int LoadGenCpu = 0;

    public static IBackendUnderTest Start(Peer peer, PollMode poll, string socketPath, string dir, int pairs = 1, IReadOnlyList<string>? extraArgs = null) => peer switch
    {
        Peer.PerfLab => PerfLabBackend.Start(socketPath, Path.Combine(dir, "stats.sock"), poll, pairs, extraArgs),
        _ => Testpmd.IsInstalled
            ? DpdkBackend.Start(socketPath, Path.Combine(dir, "testpmd.log"), pairs)
            : throw new InvalidOperationException("the DPDK peer is not available: testpmd is not installed (scripts/install-peers)"),
    };

    /// <summary>True when DPDK runs can be part of a profile (testpmd installed and supported).</summary>
    public static bool DpdkAvailable => Testpmd.IsInstalled;

    /// <summary>The DPDK version for the report, or null.</summary>
    public static string? DpdkVersion => Testpmd.Version();

    /// <summary>Waits for a UNIX socket file to appear; false on timeout or if the process died.</summary>
    public static bool WaitForSocket(string path, Process p, TimeSpan limit)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < limit)
        {
            if (File.Exists(path))
            {
                return true;
            }
            if (p.HasExited)
            {
                return false;
            }
            Thread.Sleep(10);
        }
        return File.Exists(path);
    }
}

/// <summary>perflab-backend as a child process: dotnet perflab-backend.dll from the bench's
/// output folder, data plane pinned to <see cref="BackendLauncher.BackendCpu"/>.</summary>
public sealed class PerfLabBackend : IBackendUnderTest
{
    private readonly Process _p;
    private readonly StringBuilder _output = new();

    private PerfLabBackend(Process p, string stats)
    {
        _p = p;
        StatsSocket = stats;
    }

    public string Label => "perflab";

    public int Pid => _p.Id;

    public string? StatsSocket { get; }

    /// <summary>Starts perflab-backend with <paramref name="pairs"/> queue pairs, all on one
    /// worker pinned to the back-end CPU.</summary>
    public static PerfLabBackend Start(string socketPath, string statsPath, PollMode poll, int pairs = 1, IReadOnlyList<string>? extraArgs = null) =>
        Launch(["--socket", socketPath, "--queues", Invariant(pairs), "--pairs-per-worker", Invariant(pairs)], socketPath, statsPath, poll, extraArgs);

    /// <summary>Starts perflab-backend serving <paramref name="devices"/> devices, one socket
    /// each (<c>--sockets DIR --devices N</c>: DIR/vhost-0.sock ..), every device's queue pair
    /// on one worker pinned to the back-end CPU.</summary>
    public static PerfLabBackend StartDevices(string socketDir, int devices, string statsPath, PollMode poll, IReadOnlyList<string>? extraArgs = null) =>
        Launch(["--sockets", socketDir, "--devices", Invariant(devices), "--workers", "1"],
            Path.Combine(socketDir, $"vhost-{devices - 1}.sock"), statsPath, poll, extraArgs);

    private static string Invariant(int n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Starts the daemon with <paramref name="where"/> (its sockets), the stats socket,
    /// the strategy and the back-end CPU, and waits for <paramref name="lastSocket"/>.</summary>
    private static PerfLabBackend Launch(IReadOnlyList<string> where, string lastSocket, string statsPath, PollMode poll, IReadOnlyList<string>? extraArgs)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "perflab-backend.dll"));
        foreach (string a in where)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (string a in new[]
        {
            "--stats-socket", statsPath, "--poll", poll.ToString().ToLowerInvariant(),
            "--cpus", Invariant(BackendLauncher.BackendCpu),
            "--stats-interval", "0", "--quiet",
        })
        {
            psi.ArgumentList.Add(a);
        }
        foreach (string a in extraArgs ?? [])
        {
            psi.ArgumentList.Add(a);
        }
        Process p = Process.Start(psi) ?? throw new InvalidOperationException("could not start perflab-backend");
        var b = new PerfLabBackend(p, statsPath);
        p.OutputDataReceived += (_, e) => b.Append(e.Data);
        p.ErrorDataReceived += (_, e) => b.Append(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!BackendLauncher.WaitForSocket(lastSocket, p, TimeSpan.FromSeconds(30)))
        {
            b.Dispose();
            throw new InvalidOperationException($"perflab-backend did not create {lastSocket}:\n{b.Output}");
        }
        return b;
    }

    private void Append(string? line)
    {
        if (line != null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public void OnDeviceReady()
    {
    }

    /// <summary>SIGTERM (the daemon stops its workers and exits), then SIGKILL after 5 s.</summary>
    public void Dispose()
    {
        try
        {
            if (!_p.HasExited)
            {
                _ = Mono.Unix.Native.Syscall.kill(_p.Id, Mono.Unix.Native.Signum.SIGTERM);
                if (!_p.WaitForExit(5000))
                {
                    _p.Kill(entireProcessTree: true);
                    _p.WaitForExit(5000);
                }
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        _p.Dispose();
    }
}

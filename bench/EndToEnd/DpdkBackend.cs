using PerfLab.LoadGen.Peers;

namespace PerfLab.Bench.EndToEnd;

/// <summary>
/// DPDK's testpmd as the back-end under test: the vhost PMD serves the socket, forwarding in
/// macswap mode on one queue, its lcore pinned to <see cref="BackendLauncher.BackendCpu"/>.
/// It has no stats socket: its CPU time comes from /proc. Compiled only when
/// PerfLab.LoadGen.Peers.Testpmd is part of the build (see PerfLab.Bench.csproj).
/// </summary>
public sealed class DpdkBackend : IBackendUnderTest
{
    private readonly Testpmd _testpmd;

    private DpdkBackend(Testpmd testpmd) => _testpmd = testpmd;

    public string Label => "dpdk";

    public int Pid => _testpmd.Pid;

    public string? StatsSocket => null;

    public static DpdkBackend Start(string socketPath, string logPath)
    {
        Testpmd t = Testpmd.StartVhostBackend(socketPath, forwardMode: "macswap", queues: 1, cpu: BackendLauncher.BackendCpu, logPath: logPath);
        try
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (!File.Exists(socketPath) && sw.Elapsed < TimeSpan.FromSeconds(30))
            {
                Thread.Sleep(10);
            }
            if (!File.Exists(socketPath))
            {
                throw new InvalidOperationException($"testpmd did not create {socketPath}:\n{t.Output}");
            }
            return new DpdkBackend(t);
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>Starts forwarding once the device is up (a no-op if it already runs).</summary>
    public void OnDeviceReady() => _testpmd.Start();

    public void Dispose()
    {
        try
        {
            _testpmd.StopForwarding();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            // testpmd already gone; Dispose still reaps it
        }
        _testpmd.Dispose();
    }
}

public static partial class BackendLauncher
{
    private static partial IBackendUnderTest? StartDpdk(string socketPath, string logPath) =>
        Testpmd.IsInstalled ? DpdkBackend.Start(socketPath, logPath) : null;

    private static partial bool DpdkInstalled() => Testpmd.IsInstalled;

    private static partial string? DpdkVersionText() => Testpmd.Version();
}

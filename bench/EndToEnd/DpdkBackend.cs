using PerfLab.Peers;

namespace PerfLab.Bench.EndToEnd;

/// <summary>
/// DPDK's testpmd as the back-end under test: the vhost PMD serves the socket, forwarding in
/// macswap mode on one queue, its lcores pinned to <see cref="BackendLauncher.BackendCpu"/>.
/// It has no stats socket: its CPU time comes from /proc.
/// </summary>
public sealed class DpdkBackend : IBackendUnderTest
{
    private readonly Testpmd _testpmd;

    private DpdkBackend(Testpmd testpmd) => _testpmd = testpmd;

    public string Label => "dpdk";

    public int Pid => _testpmd.Pid;

    public string? StatsSocket => null;

    /// <summary>Starts testpmd; it returns once the socket exists and forwarding has started
    /// (frames flow as soon as the load generator has set up the device).</summary>
    public static DpdkBackend Start(string socketPath, string logPath, int pairs = 1) =>
        new(Testpmd.StartVhostBackend(socketPath, forwardMode: "macswap", queues: pairs, cpu: BackendLauncher.BackendCpu, logPath: logPath));

    public void OnDeviceReady()
    {
    }

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

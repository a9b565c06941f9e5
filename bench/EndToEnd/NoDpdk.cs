namespace PerfLab.Bench.EndToEnd;

/// <summary>
/// The build without DPDK support: PerfLab.LoadGen.Peers.Testpmd is not in the tree, so
/// DpdkBackend.cs is left out (see PerfLab.Bench.csproj) and the busy-poll back-end is the
/// baseline. When Testpmd.cs lands, this file drops out and DpdkBackend.cs comes in.
/// </summary>
public static partial class BackendLauncher
{
    private static partial IBackendUnderTest? StartDpdk(string socketPath, string logPath, int pairs) => null;

    private static partial bool DpdkInstalled() => false;

    private static partial string? DpdkVersionText() => null;
}

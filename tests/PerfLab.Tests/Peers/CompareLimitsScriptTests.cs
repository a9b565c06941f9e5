using Xunit;

namespace PerfLab.Tests.Peers;

/// <summary>
/// scripts/compare-limits without a measurement (every point of it busy-polls both CPUs, which
/// no test may do): its options, and refusals before anything starts.
/// </summary>
public sealed class CompareLimitsScriptTests
{
    /// <summary>Issue 12's packed-against-split floor is read from a run with --layouts "split
    /// packed": the usage names the option, the layouts, the queue size and the second
    /// summary's ratio.</summary>
    [Fact]
    public void UsageDocumentsLayoutsAndQueueSize()
    {
        ScriptResult r = PeerEnvironment.RunScript("compare-limits", TimeSpan.FromSeconds(30), "--help");
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}:\n{r.Output}");
        Assert.Contains("--layouts", r.Output, StringComparison.Ordinal);
        Assert.Contains("split packed", r.Output, StringComparison.Ordinal);
        Assert.Contains("--queue-size", r.Output, StringComparison.Ordinal);
        Assert.Contains("packed ÷ split", r.Output, StringComparison.Ordinal);
        Assert.Contains("c-ring-packed-b32", r.Output, StringComparison.Ordinal);
    }

    /// <summary>A layout the C ring and the load generator do not both have, or a queue size
    /// that is not a power of two, ends the script with exit 2 before it builds or starts
    /// anything.</summary>
    [Theory]
    [InlineData("--layouts", "split ring", "unknown layout ring")]
    [InlineData("--layouts", " ", "at least one layout")]
    [InlineData("--queue-size", "1000", "power of two")]
    [InlineData("--queue-size", "65536", "power of two")]
    public void RefusesWhatNeitherSideRuns(string option, string value, string message)
    {
        ScriptResult r = PeerEnvironment.RunScript("compare-limits", TimeSpan.FromSeconds(30), option, value);
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}:\n{r.Output}");
        Assert.Contains(message, r.Output, StringComparison.Ordinal);
    }
}

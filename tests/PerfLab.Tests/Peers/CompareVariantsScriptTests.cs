using Xunit;

namespace PerfLab.Tests.Peers;

/// <summary>
/// scripts/compare-variants end to end, at its smallest: one round, short points, both sides
/// sleeping (no test spins two busy-pollers). Behaviour only: which ratios the summary holds.
/// </summary>
public sealed class CompareVariantsScriptTests
{
    /// <summary>
    /// One variant at several queue sizes is issue 12's "queue Q against 256": the summary
    /// gives each size's ratio to the first size. It used to end with "--reference split: no
    /// such configuration" (exit 2), the variant having no same-size partner.
    /// </summary>
    [Fact]
    public void OneVariantAtSeveralQueueSizesIsComparedToTheFirstSize()
    {
        ScriptResult r = PeerEnvironment.RunScript("compare-variants", TimeSpan.FromSeconds(180),
            "--variants", "split", "--queue-sizes", "256 1024", "--reps", "1", "--duration", "0.2",
            "--poll", "interrupt", "--no-point-probe");
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}:\n{r.Output}");
        Assert.Contains("split-q1024 ÷ split-q256", r.Output, StringComparison.Ordinal);
    }
}

using PerfLab.Backend.Server;
using PerfLab.Tests.Peers;
using Xunit;

namespace PerfLab.Tests.Hostile;

/// <summary>
/// The self-tests of scripts/chaos and scripts/soak: a short run against a healthy back-end
/// passes, and each deliberately broken back-end (<see cref="Sabotage"/>, test only) makes the
/// run fail, its verdict naming every check that caught it. Both sides sleep (interrupt): no
/// test spins two busy-pollers.
/// </summary>
public sealed class ScriptVerdictTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(240);

    private static readonly string[] Chaos = ["--rounds", "3", "--reconnects", "3", "--backend-poll", "interrupt", "--settle", "5"];

    private static readonly string[] Soak = ["--seconds", "12", "--baseline-s", "2", "--backend-poll", "interrupt", "--guest-poll", "interrupt", "--rate", "200k"];

    private static ScriptResult Run(string script, string? sabotage, string[] args) =>
        PeerEnvironment.RunScript(sabotage == null ? new Dictionary<string, string>() : new() { [Sabotage.EnvVar] = sabotage }, script, Limit, args);

    private static void AssertFailsFor(ScriptResult r, string script, string[] reasons)
    {
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}, 1 expected:\n{r.Output}");
        string verdict = r.Line($"{script} FAIL");
        foreach (string reason in reasons)
        {
            Assert.True(verdict.Contains(reason, StringComparison.Ordinal), $"the verdict does not name '{reason}': {verdict}\n{r.Output}");
        }
    }

    [Theory]
    [InlineData("chaos")]
    [InlineData("soak")]
    public void PassesOnAHealthyBackEnd(string script)
    {
        ScriptResult r = Run(script, null, script == "chaos" ? Chaos : Soak);
        r.AssertPassed();
        Assert.Contains($"{script} PASS", r.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("leak-fd,leak-thread,leak-managed", new[] { "fd or mapping leak", "thread count growth", "managed heap growth" })]
    [InlineData("crash-worker", new[] { "worker not running", "error lines in the back-end log", "load generator failed" })]
    [InlineData("drop-sessions", new[] { "missing sessions", "load generator failed" })]
    public void ChaosFailsOnABrokenBackEnd(string sabotage, string[] reasons) =>
        AssertFailsFor(Run("chaos", sabotage, Chaos), "chaos", reasons);

    [Theory]
    [InlineData("leak-managed", new[] { "managed heap growth" })]
    [InlineData("leak-thread", new[] { "thread count growth" })]
    [InlineData("crash-worker", new[] { "worker not running", "error lines in the back-end log", "load generator failed" })]
    public void SoakFailsOnABrokenBackEnd(string sabotage, string[] reasons) =>
        AssertFailsFor(Run("soak", sabotage, Soak), "soak", reasons);

    [Fact]
    public void SabotageNamesAreCheckedAndCombine()
    {
        Assert.Equal(Sabotage.Kind.None, Sabotage.Parse(null));
        Assert.Equal(Sabotage.Kind.LeakFd | Sabotage.Kind.CrashWorker, Sabotage.Parse("leak-fd, crash-worker"));
        Assert.Contains("unknown sabotage 'nothing'", Assert.Throws<ArgumentException>(() => Sabotage.Parse("nothing")).Message, StringComparison.Ordinal);
    }
}

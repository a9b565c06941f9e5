using Xunit;

namespace PerfLab.Tests.Peers;

/// <summary>
/// scripts/lib.sh is sourced by every script under <c>set -euo pipefail</c>; a helper that lets a
/// non-zero status escape ends the calling script early with that status.
/// </summary>
public sealed class ScriptLibraryTests
{
    /// <summary>
    /// A child that dies of the SIGTERM itself (no handler, or a handler already torn down
    /// while it was exiting on its own) reports 143 to <c>wait</c>. perflab_stop must swallow
    /// that: qemu-smoke once failed with "exit 143" after a clean run because the back-end,
    /// finishing its last session, died of the SIGTERM instead of exiting 0.
    /// </summary>
    [Fact]
    public void PerflabStopSurvivesAChildKilledBySigterm()
    {
        const string Body = "sleep 100 & p=$!; sleep 0.2; perflab_stop \"$p\" 2; "
            + "perflab_spawn /dev/null sleep 100; sleep 0.2; perflab_stop_all; echo reached-end";
        (int exit, string stdout, string stderr) = PointVerdictTests.LibBash(Body);
        string output = stdout + stderr;
        Assert.True(exit == 0, $"exit {exit}:\n{output}");
        Assert.Contains("reached-end", output, StringComparison.Ordinal);
    }

    /// <summary>
    /// The moved points' list takes a configuration whose options hold commas (quoted in the
    /// journal's CSV), not only plain ones.
    /// </summary>
    [Fact]
    public void MovedPointsListsAConfigurationWithCommas()
    {
        const string Body = "f=$(mktemp); printf 'Round,ConfigId,Metric,Value\\n1,\"hybrid/busy:--hybrid-kick-batch,64@10+split\",mpps_moved,1.5\\n"
            + "2,busy/busy@10+split,mpps_moved,2.25\\n2,busy/busy@10+split,mpps,2.25\\n' > \"$f\"; perflab_moved_points \"$f\"; rm -f \"$f\"";
        (int exit, string stdout, string stderr) = PointVerdictTests.LibBash(Body);
        Assert.True(exit == 0, $"exit {exit}:\n{stdout}{stderr}");
        Assert.Contains("round 1 hybrid/busy:--hybrid-kick-batch,64@10+split: 1.500 Mpps", stdout, StringComparison.Ordinal);
        Assert.Contains("round 2 busy/busy@10+split: 2.250 Mpps", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("round 2 busy/busy@10+split: 2.250 Mpps\n  round 2", stdout, StringComparison.Ordinal);
    }

    /// <summary>
    /// A comparison interrupted while it probes c2c inside a point (perflab_frozen_c2c) leaves
    /// the point's processes stopped; perflab_stop must still end them by SIGTERM (after a SIGCONT),
    /// not only by its SIGKILL fallback.
    /// </summary>
    [Fact]
    public void PerflabStopEndsAStoppedChild()
    {
        // The child notes the SIGTERM in a file; a SIGKILL (perflab_stop's fallback) would not.
        const string Body = "f=$(mktemp); bash -c 'trap \"echo term > $0; exit 0\" TERM; while :; do sleep 0.05; done' \"$f\" & p=$!; "
            + "sleep 0.2; kill -STOP \"$p\"; perflab_stop \"$p\" 3; "
            + "if kill -0 \"$p\" 2>/dev/null; then echo still-there; else cat \"$f\"; fi; rm -f \"$f\"";
        (int exit, string stdout, string stderr) = PointVerdictTests.LibBash(Body);
        Assert.True(exit == 0, $"exit {exit}:\n{stdout}{stderr}");
        Assert.Equal("term", stdout.Trim());
    }

    /// <summary>
    /// Every script answers --help with its usage (exit 0) and refuses an unknown option
    /// (exit 2), without starting anything. scripts/backend and scripts/loadgen hand their
    /// arguments to the programs, whose --help CrossProcessTests checks.
    /// </summary>
    [Fact]
    public void EveryScriptPrintsItsUsageAndRefusesAnUnknownOption()
    {
        string dir = Path.Combine(PeerEnvironment.RepoRoot, "scripts");
        string[] scripts = Directory.GetFiles(dir)
            .Select(f => Path.GetFileName(f))
            .Where(n => n is not ("lib.sh" or "backend" or "loadgen"))
            .ToArray();
        Assert.Contains("compare-variants", scripts);
        foreach (string script in scripts)
        {
            ScriptResult help = PeerEnvironment.RunScript(script, TimeSpan.FromSeconds(30), "--help");
            Assert.True(help.ExitCode == 0, $"{script} --help: exit {help.ExitCode}\n{help.Output}");
            Assert.Contains("Usage: scripts/" + script, help.Output, StringComparison.Ordinal);
            ScriptResult bad = PeerEnvironment.RunScript(script, TimeSpan.FromSeconds(30), "--no-such-option");
            Assert.True(bad.ExitCode == 2, $"{script} --no-such-option: exit {bad.ExitCode}\n{bad.Output}");
        }
    }
}

using System.Diagnostics;
using Xunit;

namespace PerfLab.Tests.Peers;

/// <summary>
/// scripts/lib.sh's perflab_point_verdict: a point whose c2c samples all fall in its round's
/// class (near ≤ 150 ns, far ≥ 250, mid between) is "steady"; one that left it at any sample
/// "moved" (its rate is left out of the comparison); nothing measured is "unknown". The rule
/// only: the samples are given, nothing is timed.
/// </summary>
public sealed class PointVerdictTests
{
    [Theory]
    [InlineData("55 60 58 61", "steady")]      // near round, near point
    [InlineData("55 60 330 61", "moved")]      // far in the middle of the window: the slow mode
    [InlineData("55 330 320 340", "moved")]    // far for the whole window, round started near
    [InlineData("330 320 340 460", "steady")]  // far round, far point: the round itself is flagged by perflab-report
    [InlineData("330 60 61 62", "moved")]
    [InlineData("55 200", "moved")]            // mid is a class of its own
    [InlineData("200 180 240", "steady")]
    [InlineData("150 150 250", "moved")]       // the class edges: 150 is near, 250 far
    [InlineData("55 n/a 60 n/a", "steady")]    // an unmeasured sample is skipped
    [InlineData("55 n/a n/a n/a", "unknown")]  // no C compiler, or --no-point-probe
    [InlineData("n/a 60 61 62", "unknown")]    // no round c2c to compare with
    [InlineData("55", "unknown")]
    public void ClassifiesAPointBySamplesAgainstItsRound(string args, string expected)
    {
        Assert.Equal(expected, Verdict(args));
    }

    private static string Verdict(string args)
    {
        (int exit, string stdout, string stderr) = LibBash("perflab_point_verdict \"$@\"", args.Split(' '));
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        return stdout.Trim();
    }

    /// <summary>Runs BODY in bash under <c>set -euo pipefail</c> with scripts/lib.sh sourced and
    /// ARGS as "$@"; fails the test if bash takes more than 30 s.</summary>
    internal static (int ExitCode, string Stdout, string Stderr) LibBash(string body, params string[] args)
    {
        string lib = Path.Combine(PeerEnvironment.RepoRoot, "scripts", "lib.sh");
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { "-c", "set -euo pipefail; source \"$1\"; shift; " + body, "lib-test", lib }.Concat(args))
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start bash");
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(30_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("bash did not finish within 30 s");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}

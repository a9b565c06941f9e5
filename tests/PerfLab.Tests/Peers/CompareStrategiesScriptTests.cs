using PerfLab.Tests.Infrastructure;
using Xunit;

namespace PerfLab.Tests.Peers;

/// <summary>
/// scripts/compare-strategies' record_point, alone: the function taken from the script and run
/// under lib.sh with the tests' perflab-report, no programs started.
/// </summary>
public sealed class CompareStrategiesScriptTests
{
    /// <summary>
    /// A moved point (its probe saw the other c2c class) is written once: its rate as
    /// mpps_moved in the journal, its JSON parsed once. With --print mpps (the round's busy
    /// maximum) it used to be recorded a second time to print the rate again.
    /// </summary>
    [Fact]
    public void AMovedPointIsRecordedOnce()
    {
        using var tmp = new TempDir();
        string script = Path.Combine(PeerEnvironment.RepoRoot, "scripts", "compare-strategies");
        const string Body = """
            script=$1; work=$2; bin=$3
            eval "$(sed -n '/^record_point()/,/^}/p' "$script")"
            # The tests' own perflab-report, never a build; every call noted.
            perflab_report() { echo "$1 $(basename "$2")" >> "$work/calls"; "$bin" "$@"; }
            journal=$work/journal.csv; rc2c=55
            json='{"mpps": 12.5, "received": 990, "lost": 10}'
            echo "55 340" > "$work/point-c2c"
            echo "max=$(record_point 1 'busy/busy@max' "$json" --print mpps)"
            record_point 1 'hybrid@100' "$json"
            echo "55 56" > "$work/point-c2c"
            echo "steady=$(record_point 1 'busy@100' "$json" --print mpps)"
            """;
        (int exit, string stdout, string stderr) = PointVerdictTests.LibBash(Body, script, tmp.Path, Path.Combine(AppContext.BaseDirectory, "perflab-report"));
        Assert.True(exit == 0, $"exit {exit}:\n{stdout}{stderr}");
        Assert.Contains("max=12.5", stdout, StringComparison.Ordinal);
        Assert.Contains("steady=12.5", stdout, StringComparison.Ordinal);

        string[] journal = File.ReadAllLines(tmp.File("journal.csv"));
        Assert.Single(journal, l => l.StartsWith("1,busy/busy@max,", StringComparison.Ordinal));
        Assert.Contains("1,busy/busy@max,mpps_moved,12.5", journal);
        Assert.Single(journal, l => l.StartsWith("1,hybrid@100,", StringComparison.Ordinal));
        Assert.Contains("1,busy@100,mpps,12.5", journal);
        // One parse per moved point, one record per point in the journal.
        string[] calls = File.ReadAllLines(tmp.File("calls"));
        Assert.Equal(2, calls.Count(c => c == "record moved.csv"));
        Assert.Equal(3, calls.Count(c => c == "record journal.csv"));
    }
}

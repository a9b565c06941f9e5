using PerfLab.Tests.Infrastructure;
using Xunit;

namespace PerfLab.Tests.Peers;

/// <summary>
/// scripts/density end to end in its smallest form: two devices on an interrupt-driven
/// back-end, one round, short trials; the guests (the script's default, busy) on their one
/// shared thread are the only poller. It checks the shape of what the script leaves, not the
/// figures.
/// </summary>
public sealed class DensityScriptTests
{
    [Fact]
    public void ATinyRunWritesOneRowPerStrategyAndCountWithItsFigures()
    {
        using var tmp = new TempDir();
        string dir = tmp.File("out");
        var env = new Dictionary<string, string> { ["PERFLAB_REPORT_BIN"] = Path.Combine(AppContext.BaseDirectory, "perflab-report") };
        ScriptResult r = PeerEnvironment.RunScript(env, "density", TimeSpan.FromSeconds(180),
            "--strategies", "interrupt", "--counts", "2", "--rounds", "1", "--seconds", "0.3", "--idle-seconds", "0.2", "--rate", "20k", "--out", dir);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}:\n{r.Output}");
        string[] csv = File.ReadAllLines(Path.Combine(dir, "density.csv"));
        Assert.Equal(2, csv.Length);
        string[] header = csv[0].Split(',');
        string[] row = csv[1].Split(',');
        Assert.Equal(header.Length, row.Length);
        Assert.Equal(["interrupt", "2", "1"], row[..3]);
        foreach (string metric in new[] { "mpps", "offered_mpps", "loss", "p50_us", "p99_us", "be_cpu_pct", "be_ns_frame", "idle_be_cpu_pct" })
        {
            int i = Array.IndexOf(header, metric);
            Assert.True(i >= 0, $"no column {metric} in {csv[0]}");
            Assert.True(double.TryParse(row[i], System.Globalization.CultureInfo.InvariantCulture, out double v) && v >= 0, $"{metric} = '{row[i]}'");
        }
        Assert.Contains("| interrupt | 2 |", File.ReadAllText(Path.Combine(dir, "density.md")));
        Assert.True(File.Exists(Path.Combine(dir, "density-p99.png")));
        Assert.True(File.Exists(Path.Combine(dir, "density-cpu.png")));
        Assert.Contains("interrupt: ", r.Output);
    }
}

using System.Globalization;
using PerfLab.CliOptions;
using PerfLab.LoadGen.Trials;

namespace PerfLab.LoadGen.Cli;

/// <summary>--trials: RATE@SECONDS[,...]; RATE with k/M/G, "max" (as fast as the rings allow)
/// or "ping" (one frame in flight).</summary>
public static class TrialList
{
    public static string? TryParse(string text, out IReadOnlyList<TrialSpec> trials)
    {
        var list = new List<TrialSpec>();
        trials = list;
        foreach (string item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] p = item.Split('@');
            if (p.Length != 2 || !double.TryParse(p[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double s) || !(s > 0) || s > 3600)
            {
                return $"'{item}' is not RATE@SECONDS (seconds in (0, 3600])";
            }
            if (p[0] == "ping")
            {
                list.Add(TrialSpec.PingPong(s));
            }
            else if (p[0] == "max")
            {
                list.Add(new TrialSpec(0, s));
            }
            else if (Opt.ParseScaled(p[0], out double rate) && rate > 0 && !double.IsInfinity(rate))
            {
                list.Add(new TrialSpec(rate, s));
            }
            else
            {
                return $"'{p[0]}' in '{item}' is not a positive rate, max or ping";
            }
        }
        return list.Count > 0 ? null : "no trials given";
    }
}

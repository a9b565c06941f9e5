using System.Globalization;
using System.Text;
using PerfLab.LoadGen.Results;
using PerfLab.LoadGen.Trials;
using PerfLab.Vhost.Interop;

namespace PerfLab.LoadGen.Cli;

/// <summary>
/// Several devices at once (--devices N, or --socket given several times): every device is set
/// up in turn, then the traffic runs on all of them together: with --poll busy on one thread
/// (pinned to --cpu) that steps every device in turn, otherwise one thread each
/// (<see cref="DeviceSetTrialRunner"/>); the trials of --trials (totals split evenly), or one
/// window of --duration at --rate's share each. Per-device lines, then the totals.
/// </summary>
internal static class DeviceSetRun
{
    public static int Run(LoadGenInvocation run)
    {
        var gens = new List<LoadGenerator>();
        try
        {
            foreach (LoadGenOptions o in run.Devices)
            {
                var g = new LoadGenerator(o);
                gens.Add(g);
                g.Setup();
            }
            Affinity.SetTimerSlack(1000);
            var runner = new DeviceSetTrialRunner(gens) { GapS = run.TrialGapS };
            IReadOnlyList<TrialSpec> trials = run.Trials.Count > 0 ? run.Trials
                : [new TrialSpec(run.Options.RatePps * gens.Count, run.Options.DurationS, 0, run.Options.MaxInFlight * gens.Count)];
            if (run.Trials.Count == 0 && run.Options.WarmupS > 0)
            {
                _ = runner.Run(trials[0] with { DurationS = run.Options.WarmupS });
            }
            long errors = 0, lost = 0;
            foreach (TrialSpec spec in trials)
            {
                TrialResult r = runner.Run(spec);
                errors += r.Errors;
                lost += r.Sent - r.Received;
                Console.Write(run.Json ? r.ToJson() + Environment.NewLine : Text(r));
            }
            foreach (LoadGenerator g in gens)
            {
                g.Teardown();
            }
            // A window (no --trials) must bring every frame sent back; trials may lose (it is their result).
            return errors == 0 && (run.Trials.Count > 0 || lost == 0) ? 0 : 1;
        }
        catch (Exception e) when (e is IOException or TimeoutException or PerfLab.Vhost.Protocol.VhostProtocolException)
        {
            Console.Error.WriteLine($"perflab-loadgen: {e.Message}");
            return 1;
        }
        finally
        {
            foreach (LoadGenerator g in gens)
            {
                g.Dispose();
            }
        }
    }

    private static string Text(TrialResult r)
    {
        var s = new StringBuilder();
        for (int d = 0; d < r.Devices.Count; d++)
        {
            s.Append(CultureInfo.InvariantCulture, $"  device {d}: ").AppendLine(ResultText.Trial(r.Devices[d]));
        }
        s.Append(CultureInfo.InvariantCulture, $"total ({r.Devices.Count} devices): ").AppendLine(ResultText.Trial(r));
        return s.ToString();
    }
}

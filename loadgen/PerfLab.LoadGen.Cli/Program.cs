using PerfLab.CliOptions;
using PerfLab.LoadGen.Results;
using PerfLab.LoadGen.Trials;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Polling;

namespace PerfLab.LoadGen.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var command = new LoadGenCommand();
        return CliRunner.Main(command.Root, "perflab-loadgen", args, command.Bind, Run);
    }

    private static int Run(LoadGenInvocation run)
    {
        LoadGenOptions o = run.Options;
        if (run.MeasureSleep)
        {
            Console.Write(SleepProbe.Format(SleepProbe.Measure(w => Console.Error.WriteLine($"measuring {w}"))));
            return 0;
        }
        if (o.Poll.Mode == PollMode.Busy && Environment.ProcessorCount < 2)
        {
            Console.Error.WriteLine("perflab-loadgen: refusing --poll busy on a single CPU (it would starve the back-end)");
            return 2;
        }
        if (run.Devices.Count > 1)
        {
            return DeviceSetRun.Run(run);
        }
        using var gen = new LoadGenerator(o);
        try
        {
            gen.Setup();
            int status = run.Trials.Count > 0 ? RunTrials(gen, run) : RunWindow(gen, run.Json);
            gen.Teardown();
            return status;
        }
        catch (Exception e) when (e is IOException or TimeoutException or PerfLab.Vhost.Protocol.VhostProtocolException)
        {
            Console.Error.WriteLine($"perflab-loadgen: {e.Message}");
            return 1;
        }
    }

    private static int RunWindow(LoadGenerator gen, bool json)
    {
        LoadGenResult r = gen.Run();
        Console.Write(json ? r.ToJson() + Environment.NewLine : ResultText.Human(r));
        LoadGenOptions o = gen.Options;
        bool ok = r.Lost == 0 && r.SeqErrors == 0 && r.Corrupt == 0 && r.VerifyErrors == 0 && r.BadIds == 0 && r.RingErrors == 0
            && r.DirtyLogMismatches <= 0 && !r.ReconnectMs.Contains(-1) && (!o.SendRarp || r.RarpReceived > 0);
        return ok ? 0 : 1;
    }

    /// <summary>--trials: one result per trial, on one connection; loss is a result, not a failure.</summary>
    private static int RunTrials(LoadGenerator gen, LoadGenInvocation run)
    {
        if (run.Options.Cpu >= 0)
        {
            Affinity.PinCurrentThread(run.Options.Cpu);
        }
        Affinity.SetTimerSlack(1000);
        var runner = new TrialRunner(gen) { GapS = run.TrialGapS };
        long errors = 0;
        foreach (TrialSpec spec in run.Trials)
        {
            TrialResult r = runner.Run(spec);
            errors += r.Errors;
            Console.WriteLine(run.Json ? r.ToJson() : ResultText.Trial(r));
        }
        return errors == 0 ? 0 : 1;
    }
}

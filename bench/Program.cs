using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.ConsoleArguments;
using BenchmarkDotNet.ConsoleArguments.ListBenchmarks;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using PerfLab.Bench.EndToEnd;
using PerfLab.Bench.Host;
using PerfLab.Bench.Method;
using PerfLab.Bench.Method.Trials;
using PerfLab.Reports;
using PerfLab.Reports.Machine;
using PerfLab.Reports.Model;
using PerfLab.Reports.Store;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench;

public static class Program
{
    private const string Help =
"""
PerfLab.Bench: which polling strategy to deploy, and at what cost, in a report fit for a review.

  cd bench && dotnet run -c Release [-- OPTIONS]

With no options it runs the default profile without prompting and writes
reports/<date-time>/ (report.md, plots, CSVs) and reports/latest. The end-to-end part runs
in interleaved rounds (every configuration once per round, the order rotated, the
cache-line round trip measured first); each configuration's NDR and PDR are searched by
MLRsearch every round, then latency and CPU at 10/50/90 % of its own PDR. The
micro-benchmarks run with BenchmarkDotNet. PerfLab's options:

  --profile NAME        what to measure (default: default):
{PROFILES}
  --rounds N            rounds (6 reach a 95 % interval for the median; 5 give 93.8 %)
  --max-rounds N        then more rounds, up to N in all, while a configuration has fewer
                        than 5 rounds kept (the host moved the vCPUs during its visits);
                        default: the profile's (default: 16; the others and --rounds
                        without --max-rounds: none added)
  --pdr-loss RATIO      the PDR goal's loss ratio, in [0, 1) (default 0.005)
  --trial-duration S    MLRsearch's final trial duration, > 0 (default: the profile's)
  --duration-sum S      MLRsearch's duration sum per load, > 0
  --load-point-duration S  each latency/CPU trial, > 0
  --backend-poll MODE   run every PerfLab configuration's back-end with MODE instead
                        (busy|interrupt|hybrid|backoff; ids stay, for compare)
  --backend-args "..."  extra arguments for every perflab-backend
  --queue-size N        every configuration's virtqueue size (the front-end's, so DPDK's
                        vhost PMD gets it too; split: a power of two)
  --packed              every configuration on packed rings
  --no-micro            skip the micro-benchmarks (BenchmarkDotNet)
  --no-end-to-end       skip the end-to-end rounds
  --out DIR             where the dated report folders go (default: <repo>/reports)
  --store STORE         record the run in this results store: a SQLite file or a
                        PostgreSQL connection string (default: reports/results.db,
                        or $PERFLAB_STORE); perflab-report compare/history read it
  --no-store            do not record the run (perflab-report import DIR does, later)
  --no-report           run BenchmarkDotNet only
  --allow-debug-build   let BenchmarkDotNet run non-optimized libraries (tests only)

--filter PATTERN selects micro-benchmarks as BenchmarkDotNet does and configurations as
EndToEnd.<id> (e.g. --filter 'EndToEnd.busy*'); --list flat lists both. Every other
BenchmarkDotNet option works as usual (--job, --exporters, --inProcess...) for the
micro-benchmarks. Bad options exit 2.

""";

    public static int Main(string[] args)
    {
        if (!BenchOptions.TryParse(args, out BenchOptions o, out string? error))
        {
            Console.Error.WriteLine($"PerfLab.Bench: {error}");
            return 2;
        }
        var configs = SelectedConfigs(o);
        if (o.Help)
        {
            Console.WriteLine(Help.Replace("{PROFILES}", Profile.Help));
        }
        string[] bdnArgs = o.BenchmarkDotNetArgs;
        var switcher = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly);
        var (parsed, _, cli) = ConfigParser.Parse(bdnArgs, NullLogger.Instance);
        var config = BenchConfig.Create(o.Profile, parsed && !BenchConfig.CommandLineSetsJob(cli), parsed && cli.RunInProcess);
        if (o.AllowDebugBuild)
        {
            config = config.WithOptions(BenchmarkDotNet.Configs.ConfigOptions.DisableOptimizationsValidator);
        }
        bool listing = parsed && cli.ListBenchmarkCaseMode != ListBenchmarkCaseMode.Disabled;
        if (listing && !o.NoEndToEnd)
        {
            foreach (BenchConfiguration c in configs)
            {
                Console.WriteLine($"EndToEnd.{c.Id}");
            }
        }
        if (!parsed || o.Help || o.NoReport || listing || cli.PrintInformation)
        {
            return Failed(switcher.Run(bdnArgs, config));
        }
        return RunWithReport(o, configs, bdnArgs, switcher, config);
    }

    /// <summary>The profile's configurations that the filters select.</summary>
    private static List<BenchConfiguration> SelectedConfigs(BenchOptions o) =>
        o.NoEndToEnd ? [] : o.Profile.ConfigIds.Select(Configurations.Get).Where(o.Selects).Select(c => WithEnvelope(c, o.QueueSize, o.Packed)).ToList();

    /// <summary>A configuration with --queue-size and --packed applied (ids stay, as with
    /// --backend-poll; the label and configs.csv say what ran).</summary>
    public static BenchConfiguration WithEnvelope(BenchConfiguration c, int? queueSize, bool packed)
    {
        string label = c.Label.Length > 0 ? c.Label : c.Id;
        if (queueSize is { } q && q != c.QueueSize)
        {
            c = c with { QueueSize = q };
            label += $", queue {q} (--queue-size)";
        }
        if (packed && c.Ring != RingLayout.Packed)
        {
            c = c with { Ring = RingLayout.Packed };
            label += ", packed (--packed)";
        }
        return c with { Label = label };
    }

    private static int RunWithReport(BenchOptions o, List<BenchConfiguration> configs, string[] bdnArgs, BenchmarkSwitcher switcher, BenchmarkDotNet.Configs.IConfig config)
    {
        var clock = Stopwatch.StartNew();
        DateTime started = DateTime.Now;
        string root = o.OutRoot ?? FindReportsRoot();
        string dir = ReportFolder.CreateDated(root, started);
        var jiffies = MachineInfo.CpuJiffies();

        var run = new RunInfo();
        run.Set(RunInfo.Title, "PerfLab benchmark report");
        run.Set(RunInfo.Date, started.ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture));
        run.Set(RunInfo.Profile, $"{o.Profile.Name}: {o.Profile.Description}" + ProfileChanges(o));
        run.Set(RunInfo.Command, "dotnet run -c Release" + (o.Args.Length > 0 ? " -- " + string.Join(' ', o.Args) : ""));
        MachineInfo.Collect(run, typeof(BenchmarkSwitcher).Assembly, typeof(HdrHistogram.LongHistogram).Assembly, typeof(Perfolizer.Mathematics.SignificanceTesting.MannWhitney.MannWhitneyTest).Assembly);
        if (BackendLauncher.DpdkVersion is { } dpdk)
        {
            run.Set(RunInfo.Dpdk, dpdk);
        }
        if (Git("rev-parse --short HEAD") is { } commit)
        {
            run.Set(RunInfo.GitCommit, commit + (Git("status --porcelain --untracked-files=no") is { Length: > 0 } ? " (with local changes)" : ""));
        }
        if (MachineInfo.LoadAverage() is { } loadBefore)
        {
            run.Set(RunInfo.LoadBefore, loadBefore);
        }
        run.Set(RunInfo.Method, o.Profile.MethodText);
        if (o.BackendPoll is { } forced)
        {
            run.Set("Back-end strategy override", $"every PerfLab configuration's back-end ran --poll {BenchConfiguration.Name(forced)} (--backend-poll)");
        }
        if (o.BackendArgs.Count > 0)
        {
            run.Set("Extra back-end arguments", string.Join(' ', o.BackendArgs));
        }
        Log($"report folder {dir}");

        var report = new Report { Run = run };
        var factory = new LoadGenTargetFactory(o.BackendArgs, o.BackendPoll);
        var runnable = new List<BenchConfiguration>();
        foreach (BenchConfiguration c in configs)
        {
            if (factory.Unavailable(c) is { } why)
            {
                run.Set($"Not run: {c.Id}", why);
                Log($"{c.Id}: not run: {why}");
            }
            else
            {
                runnable.Add(c);
            }
        }
        report.Configs.AddRange(runnable.Select(c => AsRun(c, o.BackendPoll).ToInfo()));
        bool endToEndFailed = false;
        if (runnable.Count > 0)
        {
            Log($"{runnable.Count} configurations × {o.Profile.Rounds} rounds: {string.Join(", ", runnable.Select(c => c.Id))}");
            var runner = new RoundRunner(o.Profile, runnable, factory,
                o.Profile.MeasureC2c ? () => CacheLineRoundTrip.MeasureNs() : () => double.NaN, Log,
                o.Profile.MeasureC2c ? () => CacheLineRoundTrip.MeasureNs(rounds: 3, secondsPerRound: 0.03) : null);
            endToEndFailed = !RunPinned(runner.Run, TimeSpan.FromHours(48));
            report.Rounds.AddRange(runner.Rounds);
            report.Samples.AddRange(runner.Samples);
            report.Trials.AddRange(runner.Trials);
            report.Percentiles.AddRange(runner.Percentiles);
            if (runner.Extensions.Count > 0)
            {
                string? still = Summaries.ShortOfKept(runner.Rounds, runner.Samples, runnable.Select(c => (c.Id, c.Reference)), o.Profile.KeptRoundsWanted);
                run.Set(RunInfo.RoundsAdded, $"{runner.Rounds.Count} rounds run, {o.Profile.Rounds} planned: {runner.Extensions.Count} added because {runner.Extensions[0]}"
                    + (still is null ? "; every configuration then had enough" : $"; at the maximum, still {still}"));
            }
            for (int i = 0; i < runner.Problems.Count; i++)
            {
                run.Set($"Problem {i + 1}", runner.Problems[i]);
            }
            if (Summaries.C2cRange(report) is { } range)
            {
                run.Set(RunInfo.C2cRange, $"{range}: " + string.Join(", ", report.Rounds.Select(r => $"{r.C2cNs:F0}")));
            }
        }

        var summaries = new List<Summary>();
        if (!o.NoMicro && AnyMicroSelected(bdnArgs, config))
        {
            summaries = switcher.Run(bdnArgs, config).ToList();
            report.Micro.AddRange(MicroResults.From(summaries));
        }
        if (report.Samples.Count == 0 && report.Micro.Count == 0)
        {
            Log("nothing ran to completion: no report");
            Directory.Delete(dir, recursive: true);
            return 1;
        }

        if (MachineInfo.LoadAverage() is { } loadAfter)
        {
            run.Set(RunInfo.LoadAfter, loadAfter);
        }
        double steal = MachineInfo.StealPct(jiffies, MachineInfo.CpuJiffies());
        if (double.IsFinite(steal))
        {
            run.Set(RunInfo.StealPct, steal.ToString("F1", CultureInfo.InvariantCulture));
        }
        run.Set(RunInfo.Baseline, "each configuration's reference (busy / busy on the same data path), per round");
        run.Set(RunInfo.Duration, $"{clock.Elapsed.TotalMinutes:F1} min (from the program's start; `dotnet run`'s build before it not included)");
        ReportFolder.Write(report, dir);
        CopyBenchmarkDotNetResults(summaries, Path.Combine(dir, "benchmarkdotnet"));
        string latest = ReportFolder.UpdateLatest(root, dir);
        Log($"report: {Path.Combine(dir, PerfLab.Reports.Markdown.MarkdownReport.FileName)} (also {latest})");
        if (!o.NoStore && report.Samples.Count > 0)
        {
            Log(RecordInStore(report, dir, o.Store, root));
        }
        return endToEndFailed || Failed(summaries) != 0 ? 1 : 0;
    }

    /// <summary>The profile's settings this run's options changed (the description names the profile's own).</summary>
    public static string ProfileChanges(BenchOptions o)
    {
        Profile p = o.Profile, own = Profile.Find(p.Name)!;
        var changed = new List<string>();
        if (p.Rounds != own.Rounds)
        {
            changed.Add($"{p.Rounds} rounds");
        }
        if (p.Extends != own.Extends || (p.Extends && p.MaxRounds != own.MaxRounds))
        {
            changed.Add(p.Extends ? $"up to {p.MaxRounds} rounds" : "no rounds added");
        }
        if (p.PdrLossRatio != own.PdrLossRatio)
        {
            changed.Add(FormattableString.Invariant($"PDR at loss {p.PdrLossRatio}"));
        }
        if (p.InitialTrialS != own.InitialTrialS || p.FinalTrialS != own.FinalTrialS || p.DurationSumS != own.DurationSumS)
        {
            changed.Add(FormattableString.Invariant($"trials {p.InitialTrialS}-{p.FinalTrialS} s, sum {p.DurationSumS} s"));
        }
        if (p.LoadPointS != own.LoadPointS)
        {
            changed.Add(FormattableString.Invariant($"load points {p.LoadPointS} s"));
        }
        return changed.Count == 0 ? "" : $" (this run: {string.Join(", ", changed)})";
    }

    /// <summary>A configuration as it ran: with --backend-poll, its back-end strategy and label say so.</summary>
    public static BenchConfiguration AsRun(BenchConfiguration c, PollMode? backendPoll) =>
        backendPoll is { } forced && c.Peer == Peer.PerfLab && forced != c.BackendPoll
            ? c with { BackendPoll = forced, Label = $"{(c.Label.Length > 0 ? c.Label : c.Id)} (back-end --poll {BenchConfiguration.Name(forced)})" }
            : c;

    /// <summary>Runs the rounds on a thread of their own pinned to the load generator's CPU
    /// (the back-ends run on the other), bounded in time. False when it threw or timed out.</summary>
    private static bool RunPinned(Action body, TimeSpan limit)
    {
        Exception? error = null;
        var t = new Thread(() =>
        {
            try
            {
                Affinity.PinCurrentThread(BackendLauncher.LoadGenCpu);
                Affinity.SetTimerSlack(1000);
                body();
            }
            catch (Exception e)
            {
                error = e;
            }
        }) { Name = "perflab-rounds", IsBackground = true };
        t.Start();
        if (!t.Join(limit))
        {
            Log($"the rounds did not finish within {limit}");
            return false;
        }
        if (error != null)
        {
            Log($"the rounds failed: {error}");
            return false;
        }
        return true;
    }

    private static bool AnyMicroSelected(string[] bdnArgs, BenchmarkDotNet.Configs.IConfig config)
    {
        var (ok, selected, _) = ConfigParser.Parse(bdnArgs, NullLogger.Instance, config);
        if (!ok || selected is null)
        {
            return false;
        }
        var filters = selected.GetFilters().ToList();
        return typeof(Program).Assembly.GetTypes()
            .Where(t => t.GetMethods().Any(m => m.GetCustomAttributes(typeof(BenchmarkDotNet.Attributes.BenchmarkAttribute), false).Length > 0))
            .SelectMany(t => BenchmarkConverter.TypeToBenchmarks(t, selected).BenchmarksCases)
            .Any(bc => filters.All(f => f.Predicate(bc)));
    }

    private static int Failed(IEnumerable<Summary> summaries) => summaries.Any(s => s.HasCriticalValidationErrors) ? 1 : 0;

    private static void Log(string s) => Console.WriteLine($"// PerfLab: {s}");

    /// <summary>The repository's reports/ folder: found upward from here (bench/), or from
    /// the program's own folder; ./reports otherwise.</summary>
    private static string FindReportsRoot() => ReportsRoot.Find();

    /// <summary>Records the run in the results store; a store that cannot be used costs the
    /// run nothing (its folder is complete and can be imported), so it is one logged line.</summary>
    private static string RecordInStore(Report report, string dir, string? store, string root)
    {
        try
        {
            return RunRecorder.Record(report, dir, StoreLocation.Parse(store, root)).Message;
        }
        catch (StoreException e)
        {
            return $"not recorded in the results store: {e.Message}";
        }
    }

    /// <summary>BenchmarkDotNet's own exports (GitHub markdown, CSV) beside the report.</summary>
    private static void CopyBenchmarkDotNetResults(IEnumerable<Summary> summaries, string to)
    {
        foreach (Summary s in summaries)
        {
            if (!Directory.Exists(s.ResultsDirectoryPath))
            {
                continue;
            }
            Directory.CreateDirectory(to);
            var types = s.BenchmarksCases.Select(bc => bc.Descriptor.Type.FullName + "-report").Distinct().ToList();
            foreach (string f in Directory.EnumerateFiles(s.ResultsDirectoryPath)
                .Where(f => types.Any(t => Path.GetFileName(f).StartsWith(t, StringComparison.Ordinal)))
                .Where(f => f.EndsWith("-github.md", StringComparison.Ordinal) || f.EndsWith("-report.csv", StringComparison.Ordinal)))
            {
                File.Copy(f, Path.Combine(to, Path.GetFileName(f)), overwrite: true);
            }
        }
    }

    private static string? Git(string args)
    {
        try
        {
            var psi = new ProcessStartInfo("git", args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using Process? p = Process.Start(psi);
            if (p is null)
            {
                return null;
            }
            string s = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit(5000);
            return p.ExitCode == 0 ? s : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}

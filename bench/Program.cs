using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.ConsoleArguments;
using BenchmarkDotNet.ConsoleArguments.ListBenchmarks;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using PerfLab.Bench.EndToEnd;
using PerfLab.Bench.Host;
using PerfLab.Reports;
using PerfLab.Reports.Machine;
using PerfLab.Reports.Model;

namespace PerfLab.Bench;

public static class Program
{
    private const string Help =
"""
PerfLab.Bench: the BenchmarkDotNet suite, and a report fit for a performance review.

  cd bench && dotnet run -c Release [-- OPTIONS]

With no options it runs the quick profile without prompting and writes
reports/<date-time>/ (report.md, plots, CSVs) and reports/latest. PerfLab's options:

  --profile NAME   what to measure (default quick):
{PROFILES}
  --out DIR        where the dated report folders go (default: <repo>/reports)
  --no-report      run BenchmarkDotNet only
  --allow-debug-build  let BenchmarkDotNet run non-optimized libraries (tests only:
                   the numbers mean nothing)

Every BenchmarkDotNet option works as usual (--filter, --list flat, --job, --exporters,
--inProcess...); they follow. Without --filter the whole selected profile runs. A job on
the command line (--job, --iterationCount...) replaces PerfLab's per-category jobs.

""";

    public static int Main(string[] args)
    {
        if (!BenchOptions.TryParse(args, out BenchOptions o, out string? error))
        {
            Console.Error.WriteLine($"PerfLab.Bench: {error}");
            return 2;
        }
        if (o.Help)
        {
            Console.WriteLine(Help.Replace("{PROFILES}", Profile.Help));
        }
        string[] bdnArgs = o.BenchmarkDotNetArgs;
        var switcher = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly);
        var (parsed, _, cli) = ConfigParser.Parse(bdnArgs, NullLogger.Instance);
        bool ownJobs = parsed && !BenchConfig.CommandLineSetsJob(cli);
        var config = BenchConfig.Create(o.Profile, ownJobs, parsed && cli.RunInProcess);
        if (o.AllowDebugBuild)
        {
            config = config.WithOptions(BenchmarkDotNet.Configs.ConfigOptions.DisableOptimizationsValidator);
        }
        if (!parsed || o.Help || o.NoReport || cli.ListBenchmarkCaseMode != ListBenchmarkCaseMode.Disabled || cli.PrintInformation)
        {
            // Help, errors, listings: BenchmarkDotNet alone.
            return Failed(switcher.Run(bdnArgs, config));
        }
        return RunWithReport(o, bdnArgs, switcher, config);
    }

    private static int RunWithReport(BenchOptions o, string[] bdnArgs, BenchmarkSwitcher switcher, BenchmarkDotNet.Configs.IConfig config)
    {
        var clock = Stopwatch.StartNew();
        DateTime started = DateTime.Now;
        string root = o.OutRoot ?? FindReportsRoot();
        string dir = ReportFolder.CreateDated(root, started);
        string raw = Path.Combine(dir, "raw");
        Directory.CreateDirectory(raw);
        // The benchmark processes inherit this: they write their side data there.
        Environment.SetEnvironmentVariable(SideData.RunDirVariable, raw);

        var run = new RunInfo();
        run.Set(RunInfo.Title, "PerfLab benchmark report");
        run.Set(RunInfo.Date, started.ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture));
        run.Set(RunInfo.Profile, $"{o.Profile.Name}: {o.Profile.Description}");
        run.Set(RunInfo.Command, "dotnet run -c Release" + (o.Args.Length > 0 ? " -- " + string.Join(' ', o.Args) : ""));
        MachineInfo.Collect(run, typeof(BenchmarkSwitcher).Assembly, typeof(HdrHistogram.LongHistogram).Assembly);
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
        Log($"report folder {dir}");
        MeasureCacheLine(o, run, RunInfo.CacheLineBefore);

        // The sweep's maxima, for the cases this run selected.
        var (_, selected, _) = ConfigParser.Parse(bdnArgs, NullLogger.Instance, config);
        // (The command line's filters, then the profile's: the parsed config holds only the former.)
        var filters = selected.GetFilters().ToList();
        var needs = BenchmarkConverter.TypeToBenchmarks(typeof(EndToEndBenchmark), selected).BenchmarksCases
            .Where(bc => filters.All(f => f.Predicate(bc)) && BenchConfig.ProfileSelects(o.Profile, bc, BackendLauncher.DpdkAvailable))
            .Select(Case.Of).OfType<Case>().Where(c => c.Load < 100)
            .Select(c => c.DataPath).Distinct().ToList();
        var rates = new Dictionary<string, double>();
        foreach (DataPath d in needs)
        {
            Log($"measuring the maximum rate for {MaxRates.KeyOf(d)} ({o.Profile.ProbePoll.ToString().ToLowerInvariant()} / {o.Profile.ProbePoll.ToString().ToLowerInvariant()}, median of 3 × 1 s)");
            // The median of three, not the best: the sweep's points are fractions of what the
            // machine sustains, and the best of three on a shared VM overstates it.
            double[] probes = Enumerable.Range(0, 3).Select(_ => MaxRates.Probe(o.Profile.ProbePoll, d, seconds: 1)).Order().ToArray();
            double pps = probes[1];
            rates[MaxRates.KeyOf(d)] = pps;
            Log($"  {pps / 1e6:F3} Mpps");
        }
        MaxRates.Save(raw, rates);
        if (rates.Count > 0)
        {
            run.Set(RunInfo.MaxRate, string.Join("; ", rates.Select(kv => $"{kv.Key} (frame/queue/burst/ring/pairs/mrg): {kv.Value / 1e6:F3} Mpps")) + $", {o.Profile.ProbePoll.ToString().ToLowerInvariant()} on both sides");
        }

        var summaries = switcher.Run(bdnArgs, config).ToList();
        if (!summaries.Any(s => s.Reports.Any(r => r.Success)))
        {
            Log("no benchmark ran to completion: no report");
            Directory.Delete(dir, recursive: true);
            return 1;
        }

        MeasureCacheLine(o, run, RunInfo.CacheLineAfter);
        if (MachineInfo.LoadAverage() is { } loadAfter)
        {
            run.Set(RunInfo.LoadAfter, loadAfter);
        }
        Report report = ReportBuilder.Build(summaries, run, out List<string> warnings);
        run.Set(RunInfo.Baseline, Views.BaselineName(report.Configs));
        run.Set(RunInfo.Duration, $"{clock.Elapsed.TotalMinutes:F1} min (BenchmarkDotNet's builds included, not `dotnet run`'s)");
        ReportFolder.Write(report, dir);
        CopyBenchmarkDotNetResults(summaries, Path.Combine(dir, "benchmarkdotnet"));
        string latest = ReportFolder.UpdateLatest(root, dir);
        foreach (string w in warnings)
        {
            Log("warning: " + w);
        }
        Log($"report: {Path.Combine(dir, PerfLab.Reports.Markdown.MarkdownReport.FileName)} (also {latest})");
        return Failed(summaries);
    }

    private static void MeasureCacheLine(BenchOptions o, RunInfo run, string fact)
    {
        if (o.Profile.MeasureCacheLine)
        {
            Log("measuring the cross-core cache-line round trip");
            run.Set(fact, CacheLineRoundTrip.MeasureNs().ToString("F0", CultureInfo.InvariantCulture));
        }
    }

    private static int Failed(IEnumerable<Summary> summaries) => summaries.Any(s => s.HasCriticalValidationErrors) ? 1 : 0;

    private static void Log(string s) => Console.WriteLine($"// PerfLab: {s}");

    /// <summary>The repository's reports/ folder: found upward from here (bench/), or from
    /// the program's own folder; ./reports otherwise.</summary>
    private static string FindReportsRoot()
    {
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "PerfLab.sln")))
                {
                    return Path.Combine(d.FullName, "reports");
                }
            }
        }
        return Path.Combine(Environment.CurrentDirectory, "reports");
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

using BenchmarkDotNet.Configs;
using BenchmarkDotNet.ConsoleArguments;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using PerfLab.Bench.Method;

namespace PerfLab.Bench;

/// <summary>
/// BenchmarkDotNet's configuration for the micro-benchmarks: the default columns and
/// exporters plus MemoryDiagnoser, zero values printed as "0 B", and the profile's job unless
/// the command line names one. (The end-to-end configurations are not BenchmarkDotNet cases:
/// the round runner interleaves them, which BenchmarkDotNet's one-case-per-process model
/// cannot.)
/// </summary>
public static class BenchConfig
{
    public const string MicroJobId = "Micro";

    public static ManualConfig Create(Profile profile, bool ownJob, bool inProcess)
    {
        ManualConfig c = ManualConfig.Create(DefaultConfig.Instance)
            .WithSummaryStyle(SummaryStyle.Default.WithZeroMetricValuesInContent())
            .AddDiagnoser(MemoryDiagnoser.Default);
        if (ownJob)
        {
            c.AddJob(WithToolchain(MicroJob(profile), inProcess));
        }
        return c;
    }

    /// <summary>Micro-benchmarks: BenchmarkDotNet's defaults, or fewer iterations for short profiles.</summary>
    public static Job MicroJob(Profile p) => p.ShortMicroJob
        ? new Job(MicroJobId).WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(8).WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(100))
        : new Job(MicroJobId);

    /// <summary>In process when asked; otherwise BenchmarkDotNet's generated project, built with
    /// the compiler server (BenchmarkDotNet turns it off, which costs a minute on 2 cores).</summary>
    private static Job WithToolchain(Job j, bool inProcess) => inProcess
        ? j.WithToolchain(InProcessEmitToolchain.Instance)
        : j.WithArguments([new MsBuildArgument("/p:UseSharedCompilation=true")]);

    /// <summary>True when the command line defines or changes the job: then its job runs every
    /// benchmark, as BenchmarkDotNet users expect, instead of the profile's.</summary>
    public static bool CommandLineSetsJob(CommandLineOptions o) =>
        !string.Equals(o.BaseJob, "Default", StringComparison.OrdinalIgnoreCase)
        || o.Runtimes.Any() || o.EnvironmentVariables.Any()
        || o.LaunchCount.HasValue || o.WarmupIterationCount.HasValue || o.MinWarmupIterationCount.HasValue || o.MaxWarmupIterationCount.HasValue
        || o.IterationTimeInMilliseconds.HasValue || o.IterationCount.HasValue || o.MinIterationCount.HasValue || o.MaxIterationCount.HasValue
        || o.InvocationCount.HasValue || o.UnrollFactor.HasValue || o.RunStrategy.HasValue || o.Platform.HasValue || o.Affinity.HasValue
        || o.RunOncePerIteration || o.MemoryRandomization || o.NoForcedGCs || o.NoEvaluationOverhead;
}

using BenchmarkDotNet.Configs;
using BenchmarkDotNet.ConsoleArguments;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Filters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using PerfLab.Bench.EndToEnd;
using PerfLab.Bench.Host;

namespace PerfLab.Bench;

/// <summary>
/// The suite's BenchmarkDotNet configuration: the default columns and exporters plus
/// MemoryDiagnoser, PerfLab's columns (<see cref="ConfigColumn"/>), zero values printed as
/// "0 B", the profile's filter, and one job per category unless the command line names one.
/// </summary>
public static class BenchConfig
{
    public const string EndToEndJobId = "EndToEnd";
    public const string MicroJobId = "Micro";

    public static ManualConfig Create(Profile profile, bool ownJobs, bool inProcess)
    {
        bool dpdk = BackendLauncher.DpdkAvailable;
        ManualConfig c = ManualConfig.Create(DefaultConfig.Instance)
            .WithSummaryStyle(SummaryStyle.Default.WithZeroMetricValuesInContent())
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumn(ConfigColumn.All())
            .AddFilter(new SimpleFilter(bc => ProfileSelects(profile, bc, dpdk)));
        if (ownJobs)
        {
            c.AddJob(WithToolchain(EndToEndJob(profile), inProcess), WithToolchain(MicroJob(profile), inProcess));
            // Each category with its own job, and only those: a command line without a job
            // still yields one (with --inProcess's toolchain, say), which ours replace.
            c.AddFilter(new SimpleFilter(bc => bc.Job.Id switch
            {
                EndToEndJobId => IsEndToEnd(bc),
                MicroJobId => !IsEndToEnd(bc),
                _ => false,
            }));
        }
        return c;
    }

    /// <summary>The profile's choice of end-to-end cases (micro-benchmarks always pass), each
    /// with the benchmark method that serves its load.</summary>
    public static bool ProfileSelects(Profile profile, BenchmarkCase bc, bool dpdkAvailable) =>
        Case.Of(bc) is not { } k || (profile.Includes(k, dpdkAvailable) && EndToEndBenchmark.MethodFits(bc.Descriptor.WorkloadMethod.Name, k.Load));

    /// <summary>
    /// End to end: no pilot, no overhead evaluation, fixed warm-up and iteration counts, one
    /// invocation (of <see cref="EndToEndBenchmark.FramesPerInvoke"/> frames) per iteration, and
    /// no forced GC between iterations, so that the CPU and counter window around each
    /// invocation holds nothing else. Tiered compilation is off, as in the two daemons'
    /// runtimeconfig: its periodic re-jits and call-counting pauses stall a busy poller for
    /// milliseconds on a 2-core machine (docs/programs.md#tiered-compilation-is-off).
    /// </summary>
    public static Job EndToEndJob(Profile p) => new Job(EndToEndJobId)
        .WithEnvironmentVariables(new EnvironmentVariable("DOTNET_TieredCompilation", "0"))
        .WithStrategy(RunStrategy.Monitoring)
        .WithLaunchCount(1)
        .WithWarmupCount(p.WarmupCount)
        .WithIterationCount(p.IterationCount)
        .WithInvocationCount(1)
        .WithUnrollFactor(1)
        .WithGcForce(false);

    /// <summary>Micro-benchmarks: BenchmarkDotNet's defaults, or fewer iterations for quick runs.</summary>
    public static Job MicroJob(Profile p) => p.ShortMicroJob
        ? new Job(MicroJobId).WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(8).WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(100))
        : new Job(MicroJobId);

    /// <summary>In process when asked; otherwise BenchmarkDotNet's generated project, built with
    /// the compiler server (BenchmarkDotNet turns it off, which costs a minute on 2 cores).</summary>
    private static Job WithToolchain(Job j, bool inProcess) => inProcess
        ? j.WithToolchain(InProcessEmitToolchain.Instance)
        : j.WithArguments([new MsBuildArgument("/p:UseSharedCompilation=true")]);

    public static bool IsEndToEnd(BenchmarkCase bc) => bc.Descriptor.Type == typeof(EndToEndBenchmark);

    /// <summary>True when the command line defines or changes the job: then its job runs every
    /// benchmark, as BenchmarkDotNet users expect, instead of the per-category ones.</summary>
    public static bool CommandLineSetsJob(CommandLineOptions o) =>
        !string.Equals(o.BaseJob, "Default", StringComparison.OrdinalIgnoreCase)
        || o.Runtimes.Any() || o.EnvironmentVariables.Any()
        || o.LaunchCount.HasValue || o.WarmupIterationCount.HasValue || o.MinWarmupIterationCount.HasValue || o.MaxWarmupIterationCount.HasValue
        || o.IterationTimeInMilliseconds.HasValue || o.IterationCount.HasValue || o.MinIterationCount.HasValue || o.MaxIterationCount.HasValue
        || o.InvocationCount.HasValue || o.UnrollFactor.HasValue || o.RunStrategy.HasValue || o.Platform.HasValue || o.Affinity.HasValue
        || o.RunOncePerIteration || o.MemoryRandomization || o.NoForcedGCs || o.NoEvaluationOverhead;
}

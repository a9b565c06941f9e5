using PerfLab.Bench.Method.Search;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench.Method;

/// <summary>
/// What a run measures and how long it may take: the configurations (ids from
/// <see cref="Configurations.Catalog"/>), the rounds, the MLRsearch goals' durations, the
/// load-point trials, and the micro-benchmarks' job.
/// </summary>
public sealed record Profile
{
    public required string Name { get; init; }
    public required string Description { get; init; }
    public required IReadOnlyList<string> ConfigIds { get; init; }

    /// <summary>Rounds; 6 is the fewest whose median interval reaches 95 % (5: 93.8 %).</summary>
    public int Rounds { get; init; } = 6;

    /// <summary>After <see cref="Rounds"/>, more rounds up to this many while a configuration
    /// has fewer than <see cref="KeptRoundsWanted"/> rounds kept (<see cref="Reports.Model.Summaries.ShortOfKept"/>);
    /// at or below <see cref="Rounds"/>: exactly <see cref="Rounds"/>.</summary>
    public int MaxRounds { get; init; }

    /// <summary>Kept rounds a configuration needs before the run stops adding rounds: 5, the
    /// fewest for which the report judges a per-round ratio.</summary>
    public int KeptRoundsWanted { get; init; } = Reports.Model.Summaries.KeptRoundsForAVerdict;

    /// <summary>Whether a run may add rounds past <see cref="Rounds"/>.</summary>
    public bool Extends => MaxRounds > Rounds;

    // MLRsearch, as FD.io CSIT runs it (NDR at loss 0, PDR at 0.5 %, exceed ratio 0.5, width
    // 0.5 % relative), with the profile's durations.
    public double PdrLossRatio { get; init; } = 0.005;
    public double ExceedRatio { get; init; } = 0.5;
    public double Width { get; init; } = 0.005;
    public double InitialTrialS { get; init; } = 1;
    public double FinalTrialS { get; init; } = 1;
    public double DurationSumS { get; init; } = 21;
    public int PrecedingTargets { get; init; } = 2;

    /// <summary>The discarded warm-up at the maximum (unthrottled), s.</summary>
    public double WarmupS { get; init; } = 1;

    /// <summary>Each load point's trial (one frame in flight, 10/50/90 % of PDR), s.</summary>
    public double LoadPointS { get; init; } = 5;

    public double MinLoadMpps { get; init; } = 0.01;

    /// <summary>Density points' warm-ups and load points, s (0: the profile's own): the
    /// default profile keeps its two density points short to fit its time budget.</summary>
    public double DensityPointS { get; init; }

    /// <summary>The settings a configuration's visits run with (a density point's shorter
    /// warm-ups and load points, <see cref="DensityPointS"/>).</summary>
    public Profile For(BenchConfiguration c) => c.Density && DensityPointS > 0
        ? this with { WarmupS = Math.Min(WarmupS, DensityPointS), LoadPointS = DensityPointS }
        : this;

    /// <summary>The search's maximum is this many times the warm-up's forwarding rate.</summary>
    public double MaxLoadFactor { get; init; } = 2;

    /// <summary>Measure the cache-line round trip each round (two spinning threads: not in tests).</summary>
    public bool MeasureC2c { get; init; } = true;

    /// <summary>BenchmarkDotNet's short job for the micro-benchmarks (else its default).</summary>
    public bool ShortMicroJob { get; init; } = true;

    public IReadOnlyList<SearchGoal> Goals() =>
    [
        Goal("NDR", 0),
        Goal("PDR", PdrLossRatio),
    ];

    private SearchGoal Goal(string name, double loss) => new()
    {
        Name = name,
        LossRatio = loss,
        ExceedRatio = ExceedRatio,
        Width = Width,
        InitialTrialS = InitialTrialS,
        FinalTrialS = FinalTrialS,
        DurationSumS = DurationSumS,
        PrecedingTargets = PrecedingTargets,
    };

    /// <summary>Why these settings cannot run, or null.</summary>
    public string? Invalid() =>
        Rounds < 1 ? $"rounds must be at least 1, not {Rounds}"
        : MaxRounds < 0 ? $"the maximum rounds cannot be negative, not {MaxRounds}"
        : !(WarmupS >= 0) ? "the warm-up cannot be negative"
        : !(LoadPointS > 0) ? $"the load-point trial duration must be positive, not {LoadPointS}"
        : MlrSearch.Invalid(Goals(), MinLoadMpps * 1e6, MinLoadMpps * 1e6 * 2);

    /// <summary>One line for report.md: the search's settings.</summary>
    public string MethodText =>
        FormattableString.Invariant($"MLRsearch (RFC 9971): NDR at loss ratio 0 and PDR at {PdrLossRatio * 100:0.###} %, exceed ratio {ExceedRatio}, goal width {Width * 100:0.###} % relative, ")
        + FormattableString.Invariant($"trials of {InitialTrialS:0.###} s up to {FinalTrialS:0.###} s, duration sum {DurationSumS:0.###} s per load, {PrecedingTargets} coarser target(s) first; ")
        + FormattableString.Invariant($"a discarded warm-up of {WarmupS:0.###} s at the generator's maximum, whose forwarding rate × {MaxLoadFactor} is the search's maximum load (minimum {MinLoadMpps} Mpps). ")
        + FormattableString.Invariant($"Load points: {LoadPointS:0.###} s each")
        + (DensityPointS > 0 ? FormattableString.Invariant($" (density points: warm-ups and load points of {DensityPointS:0.###} s)") : "")
        + FormattableString.Invariant($". {Rounds} rounds")
        + (Extends ? FormattableString.Invariant($", more up to {MaxRounds} while a configuration has fewer than {KeptRoundsWanted} rounds kept (the host moved the vCPUs during its visits)") : "")
        + ".";

    public static readonly Profile Default = new()
    {
        Name = "default",
        Description = "busy, interrupt, hybrid (guest hybrid and guest busy; and with a kick batch filling in 200 µs, guest busy and guest hybrid napping 20 µs before it arms) at 64 B, busy at 1500 B, busy at queue 1024, DPDK when installed, and a small density point (hybrid back-end with 1 and 8 devices, busy guests, 0.15 s load points); 8 rounds, up to 16 while the host's moves leave a configuration fewer than 5 kept; short trials (0.1 s, sum 0.2 s)",
        ConfigIds =
        [
            Configurations.BusyReference, "interrupt-64", "hybrid-64", "hybrid-guestbusy-64", "hybrid-fill-guestbusy-64", "hybrid-fill-guestnap-64", "busy-1500", "busy-64-q1024", "dpdk-64",
            Configurations.DensityId(PollMode.Hybrid, 1), Configurations.DensityId(PollMode.Hybrid, 8),
        ],
        // 6 is the fewest rounds whose interval reaches 95 %; 8 keep 6 when two are flagged.
        // The host's moves left out 22-30 of 36-45 visits in some runs: up to 8 more rounds.
        Rounds = 8,
        MaxRounds = 16,
        InitialTrialS = 0.05,
        FinalTrialS = 0.1,
        DurationSumS = 0.2,
        PrecedingTargets = 1,
        WarmupS = 0.3,
        LoadPointS = 0.3,
        DensityPointS = 0.15,
    };

    public static readonly Profile Full = new()
    {
        Name = "full",
        Description = "every configuration of the catalog, CSIT's durations (1 s trials, 21 s duration sum per load), 10 rounds: hours",
        ConfigIds = Configurations.Catalog.Select(c => c.Id).ToList(),
        Rounds = 10,
        ShortMicroJob = false,
    };

    /// <summary>Issue 14's density question in the bench: every strategy with 1, 4, 16 and 64
    /// devices on one back-end worker, busy guests on one thread; the default's short trials.</summary>
    public static readonly Profile Density = Default with
    {
        Name = "density",
        Description = "busy, interrupt, hybrid, backoff back-ends × 1, 4, 16, 64 devices on one worker, busy guests on one thread (each count's reference: its strategy with 1 device); 6 rounds, so that a flagged one still leaves the 5 a verdict needs (up to 10 while a configuration has fewer than 5 kept); short trials (0.1 s, sum 0.2 s): about 12 min (4 rounds took 8.6 min from a clone, build included)",
        ConfigIds = [.. Configurations.DensityStrategies.SelectMany(s => Configurations.DensityCounts.Select(n => Configurations.DensityId(s, n)))],
        Rounds = 6,
        MaxRounds = 10,
        DensityPointS = 0,
    };

    /// <summary>For tests: interrupt strategies only (nothing spins), no c2c, tiny trials.</summary>
    public static readonly Profile Smoke = new()
    {
        Name = "smoke",
        Description = "interrupt / interrupt at 64 and 1500 B, 2 rounds, tiny trials, no cache-line ping-pong (nothing busy-polls; for tests)",
        ConfigIds = ["interrupt-64", "interrupt-1500"],
        Rounds = 2,
        InitialTrialS = 0.02,
        FinalTrialS = 0.02,
        DurationSumS = 0.02,
        PrecedingTargets = 0,
        Width = 0.05,
        WarmupS = 0.05,
        LoadPointS = 0.05,
        MeasureC2c = false,
    };

    public static readonly IReadOnlyList<Profile> All = [Default, Density, Full, Smoke];

    /// <summary>A profile by name ("quick" is the default's former name).</summary>
    public static Profile? Find(string name) => name.Equals("quick", StringComparison.OrdinalIgnoreCase)
        ? Default
        : All.FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase));

    public static string Help => string.Join("\n", All.Select(p => $"  {p.Name,-8} {p.Description}"));
}

using BenchmarkDotNet.Running;
using PerfLab.Bench.EndToEnd;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench;

/// <summary>One end-to-end configuration, as a profile sees it.</summary>
public readonly record struct Case(Peer Peer, PollMode BackendPoll, PollMode GuestPoll, int FrameSize, int QueueSize, int Burst, int Load,
    RingLayout Ring = RingLayout.Split, int Pairs = 1, bool Mergeable = false)
{
    /// <summary>The default data path: split rings, one queue pair, no MRG_RXBUF.</summary>
    public bool DefaultPath => Ring == RingLayout.Split && Pairs == 1 && !Mergeable;

    public DataPath DataPath => new(FrameSize, QueueSize, Burst, Ring, Pairs, Mergeable);

    /// <summary>The case's configuration, or null for a micro-benchmark.</summary>
    public static Case? Of(BenchmarkCase bc)
    {
        if (bc.Descriptor.Type != typeof(EndToEndBenchmark))
        {
            return null;
        }
        T P<T>(string name) => (T)bc.Parameters[name];
        return new Case(P<Peer>(nameof(Peer)), P<PollMode>(nameof(BackendPoll)), P<PollMode>(nameof(GuestPoll)),
            P<int>(nameof(FrameSize)), P<int>(nameof(QueueSize)), P<int>(nameof(Burst)), P<int>(nameof(Load)),
            P<RingLayout>(nameof(Ring)), P<int>(nameof(Pairs)), P<bool>(nameof(Mergeable)));
    }
}

/// <summary>
/// What a run measures. The end-to-end parameters span the full matrix; a profile picks the
/// configurations (micro-benchmarks always run, with the profile's job). DPDK configurations
/// join any profile when testpmd is available, under the same load as the baseline, and
/// testpmd always busy-polls.
/// </summary>
public sealed record Profile(string Name, string Description, Func<Case, bool> Selects, PollMode ProbePoll, int WarmupCount, int IterationCount, bool ShortMicroJob, bool MeasureCacheLine = true)
{
    /// <summary>The default: fits 10 minutes on a 2-core machine, builds included.
    /// Every strategy (the same on both sides) at 64 B and 1500 B unthrottled; busy, hybrid and
    /// interrupt at 10, 50 and 90 % of the measured maximum at 64 B. Queue 256, burst 32.
    /// Plus the data-path variants at 64 B unthrottled, busy on both sides: packed rings, two
    /// queue pairs, mergeable RX buffers.</summary>
    public static readonly Profile Quick = new(
        "quick",
        "each strategy on both sides at 64 and 1500 B unthrottled; busy, hybrid and interrupt at 10/50/90 % load at 64 B; queue 256, burst 32; packed, 2 pairs and mergeable at 64 B busy/busy",
        c => c.QueueSize == 256 && c.Burst == 32 && Symmetric(c)
            && ((c.DefaultPath
                    && ((c.Load == 100 && c.FrameSize is 64 or 1500)
                        || (c.FrameSize == 64 && (c.Load is 10 or 50 or 90) && c.GuestPoll != PollMode.Backoff)))
                || (OneVariant(c) && c.FrameSize == 64 && c.Load == 100 && c.BackendPoll == PollMode.Busy && c.GuestPoll == PollMode.Busy)),
        PollMode.Busy, WarmupCount: 2, IterationCount: 8, ShortMicroJob: true);

    /// <summary>Everything: 4 back-end × 4 guest strategies × 3 frame sizes × 2 queue sizes ×
    /// 2 bursts × 6 loads (576 PerfLab configurations, plus 288 DPDK ones), and each data-path
    /// variant (packed, 2 pairs, mergeable) unthrottled with the same strategy on both sides.
    /// Hours.</summary>
    public static readonly Profile Full = new(
        "full",
        "the full matrix: back-end × guest strategy × 64/512/1500 B × queue 256/1024 × burst 1/32 × load 10/25/50/75/90/100 %",
        c => (c.Peer == Peer.PerfLab || c.BackendPoll == PollMode.Busy)
            && (c.DefaultPath || (OneVariant(c) && c.Load == 100 && c.BackendPoll == c.GuestPoll)),
        PollMode.Busy, WarmupCount: 3, IterationCount: 15, ShortMicroJob: false);

    /// <summary>For tests: interrupt strategies only, 64 B, unthrottled and 50 %; no cache-line
    /// ping-pong either, so nothing spins.</summary>
    public static readonly Profile Smoke = new(
        "smoke",
        "interrupt / interrupt at 64 B, queue 256, burst 32, unthrottled and 50 % (no busy polling; for tests)",
        c => c.Peer == Peer.PerfLab && c.BackendPoll == PollMode.Interrupt && c.GuestPoll == PollMode.Interrupt
            && c.FrameSize == 64 && c.QueueSize == 256 && c.Burst == 32 && c.Load is 50 or 100 && c.DefaultPath,
        PollMode.Interrupt, WarmupCount: 1, IterationCount: 2, ShortMicroJob: true, MeasureCacheLine: false);

    public static readonly IReadOnlyList<Profile> All = [Quick, Full, Smoke];

    public static Profile? Find(string name) => All.FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Exactly one of the data-path variants differs from the default.</summary>
    private static bool OneVariant(Case c) =>
        (c.Ring == RingLayout.Packed ? 1 : 0) + (c.Pairs > 1 ? 1 : 0) + (c.Mergeable ? 1 : 0) == 1;

    /// <summary>Same strategy on both sides; DPDK: testpmd busy-polls, the guest busy-polls too.</summary>
    private static bool Symmetric(Case c) => c.Peer == Peer.PerfLab
        ? c.BackendPoll == c.GuestPoll
        : c.BackendPoll == PollMode.Busy && c.GuestPoll == PollMode.Busy;

    /// <summary>The profile's choice, with DPDK only when it can run.</summary>
    public bool Includes(Case c, bool dpdkAvailable) => (c.Peer == Peer.PerfLab || dpdkAvailable) && Selects(c);

    public static string Help => string.Join("\n", All.Select(p => $"  {p.Name,-6} {p.Description}"));
}

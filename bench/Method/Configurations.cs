using PerfLab.Bench.EndToEnd;
using PerfLab.Reports.Model;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench.Method;

/// <summary>Ring layout of a configuration.</summary>
public enum RingLayout
{
    Split,
    Packed,
}

/// <summary>
/// One end-to-end configuration: the back-end and its strategy, the guest's strategy, the data
/// path. Its id is its name in every report and in the results store: keep it stable (compare
/// matches runs on it). A configuration's reference is the one its per-round ratios divide
/// by: busy polling on the same data path.
/// </summary>
public sealed record BenchConfiguration
{
    public required string Id { get; init; }
    public string Label { get; init; } = "";
    public Peer Peer { get; init; } = Peer.PerfLab;
    public PollMode BackendPoll { get; init; } = PollMode.Busy;
    public PollMode GuestPoll { get; init; } = PollMode.Busy;
    public int FrameSize { get; init; } = 64;
    public int QueueSize { get; init; } = 256;
    public int Burst { get; init; } = 32;
    public RingLayout Ring { get; init; } = RingLayout.Split;
    public int Pairs { get; init; } = 1;
    public bool Mergeable { get; init; }

    /// <summary>Devices served at once (density): the load is spread over them, one search
    /// for the aggregate.</summary>
    public int Devices { get; init; } = 1;

    /// <summary>A density point: one back-end serving <see cref="Devices"/> sockets on one
    /// worker, every trial through the load generator's device-set runner (one device too, so
    /// that 1 and N devices are measured alike).</summary>
    public bool Density { get; init; }

    /// <summary>Runs on the density target (<see cref="Density"/>, or several devices).</summary>
    public bool OnDeviceSet => Density || Devices > 1;

    /// <summary>Extra perflab-backend arguments ("--hybrid-budget-us", "5").</summary>
    public IReadOnlyList<string> BackendArgs { get; init; } = [];

    /// <summary>A hybrid guest's timed naps with calls off before it arms (loadgen
    /// --hybrid-naps, --hybrid-nap-us; NAPI's napi_defer_hard_irqs with gro_flush_timeout): a
    /// guest that does not ask the back-end to wake it for every completion.</summary>
    public int GuestNaps { get; init; }
    public double GuestNapUs { get; init; } = 20;

    /// <summary>The configuration this one is compared with, round by round (empty: none).</summary>
    public string Reference { get; init; } = "";

    /// <summary>Runs only where testpmd is installed.</summary>
    public bool NeedsDpdk => Peer == Peer.Dpdk;

    public ConfigInfo ToInfo() => new()
    {
        Id = Id,
        Label = Label.Length > 0 ? Label : Id,
        Peer = Peer == Peer.Dpdk ? PeerNames.Dpdk : PeerNames.PerfLab,
        BackendPoll = Peer == Peer.Dpdk ? "busy (testpmd)" : Name(BackendPoll),
        GuestPoll = GuestNaps > 0 ? FormattableString.Invariant($"{Name(GuestPoll)} napping {GuestNaps}x{GuestNapUs} us") : Name(GuestPoll),
        FrameSize = FrameSize,
        QueueSize = QueueSize,
        Burst = Burst,
        Ring = Ring.ToString().ToLowerInvariant(),
        Pairs = Pairs,
        Mergeable = Mergeable,
        Devices = Devices,
        BackendArgs = string.Join(' ', BackendArgs),
        Reference = Reference,
    };

    public static string Name(PollMode m) => m.ToString().ToLowerInvariant();
}

/// <summary>
/// Every configuration a profile can run, in one place. To add one: add a line to
/// <see cref="Catalog"/> (a unique, stable id; its reference, usually "busy-64"), then name
/// its id in the profile(s) that should run it (<see cref="Profile"/>). Nothing else changes:
/// the rounds, the search, the report, the plots and the store pick it up.
/// </summary>
public static class Configurations
{
    public const string BusyReference = "busy-64";

    private static BenchConfiguration Strategy(string id, PollMode backend, PollMode guest, string label, int frame = 64, string reference = BusyReference) => new()
    {
        Id = id,
        Label = label,
        BackendPoll = backend,
        GuestPoll = guest,
        FrameSize = frame,
        Reference = reference,
    };

    /// <summary>The density points' strategies and device counts (issue 14); 8 devices for the
    /// default profile's small point.</summary>
    public static readonly IReadOnlyList<PollMode> DensityStrategies = [PollMode.Busy, PollMode.Interrupt, PollMode.Hybrid, PollMode.Backoff];

    public static readonly IReadOnlyList<int> DensityCounts = [1, 4, 16, 64];

    /// <summary>"density-hybrid-8": <paramref name="backend"/>'s strategy serving
    /// <paramref name="devices"/> devices on one worker.</summary>
    public static string DensityId(PollMode backend, int devices) =>
        FormattableString.Invariant($"density-{BenchConfiguration.Name(backend)}-{devices}");

    /// <summary>A density point with busy guests (one thread steps every device); its reference
    /// is the same strategy with one device, so its per-round ratio is the cost of N devices.</summary>
    private static BenchConfiguration Density(PollMode backend, int devices) => new()
    {
        Id = DensityId(backend, devices),
        Label = FormattableString.Invariant($"{BenchConfiguration.Name(backend)}, {devices} device{(devices == 1 ? "" : "s")} on one worker / busy guests, 64 B"),
        BackendPoll = backend,
        GuestPoll = PollMode.Busy,
        Devices = devices,
        Density = true,
        Reference = devices == 1 ? "" : DensityId(backend, 1),
    };

    public static readonly IReadOnlyList<BenchConfiguration> Catalog =
    [
        // The strategies, 64 B, queue 256, burst 32: the decision the bench is for.
        Strategy(BusyReference, PollMode.Busy, PollMode.Busy, "busy / busy, 64 B", reference: ""),
        Strategy("interrupt-64", PollMode.Interrupt, PollMode.Interrupt, "interrupt / interrupt, 64 B"),
        Strategy("hybrid-64", PollMode.Hybrid, PollMode.Hybrid, "hybrid / hybrid, 64 B"),
        Strategy("hybrid-guestbusy-64", PollMode.Hybrid, PollMode.Busy, "hybrid / busy guest, 64 B"),
        // Hybrid whose sleeps wait for a kick batch that fills in about 200 µs (docs/polling.md,
        // "A kick batch that follows the rate"): issue 17's CPU at 10 % against its latency.
        Strategy("hybrid-fill-guestbusy-64", PollMode.Hybrid, PollMode.Busy, "hybrid, kick batch filling in 200 µs / busy guest, 64 B") with
        {
            BackendArgs = ["--hybrid-kick-batch", "256", "--hybrid-kick-fill-us", "200"],
        },
        // The same back-end with a hybrid guest that naps 20 µs with calls off before it arms:
        // the back-end's calls to a sleeping guest were the rest of its CPU at 10 %
        // (docs/polling.md, "The guest's calls").
        Strategy("hybrid-fill-guestnap-64", PollMode.Hybrid, PollMode.Hybrid, "hybrid, kick batch filling in 200 µs / hybrid guest napping 20 µs before it arms, 64 B") with
        {
            BackendArgs = ["--hybrid-kick-batch", "256", "--hybrid-kick-fill-us", "200"],
            GuestNaps = 1,
        },
        Strategy("backoff-64", PollMode.Backoff, PollMode.Backoff, "backoff / backoff, 64 B"),
        // Frame sizes: throughput in Gb/s as well as Mpps.
        Strategy("busy-1500", PollMode.Busy, PollMode.Busy, "busy / busy, 1500 B", frame: 1500, reference: ""),
        Strategy("busy-512", PollMode.Busy, PollMode.Busy, "busy / busy, 512 B", frame: 512, reference: ""),
        Strategy("interrupt-1500", PollMode.Interrupt, PollMode.Interrupt, "interrupt / interrupt, 1500 B", frame: 1500, reference: "busy-1500"),
        // DPDK's vhost PMD (testpmd, macswap, always busy-polling), where installed.
        new() { Id = "dpdk-64", Label = "DPDK testpmd / busy guest, 64 B", Peer = Peer.Dpdk, BackendPoll = PollMode.Busy, GuestPoll = PollMode.Busy, Reference = BusyReference },
        // Data-path variants, busy on both sides.
        new() { Id = "busy-64-packed", Label = "busy / busy, 64 B, packed", Ring = RingLayout.Packed, Reference = BusyReference },
        new() { Id = "busy-64-2pairs", Label = "busy / busy, 64 B, 2 pairs", Pairs = 2, Reference = BusyReference },
        new() { Id = "busy-64-mrg", Label = "busy / busy, 64 B, mergeable", Mergeable = true, Reference = BusyReference },
        new() { Id = "busy-64-q1024", Label = "busy / busy, 64 B, queue 1024", QueueSize = 1024, Reference = BusyReference },
        // Density: many devices on one back-end worker, per strategy (--profile density).
        .. DensityStrategies.SelectMany(s => DensityCounts.Select(n => Density(s, n))),
        Density(PollMode.Hybrid, 8),
    ];

    public static BenchConfiguration Get(string id) =>
        Catalog.FirstOrDefault(c => c.Id == id) ?? throw new ArgumentException($"no configuration '{id}' in the catalog");
}

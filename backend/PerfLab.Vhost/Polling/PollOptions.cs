namespace PerfLab.Vhost.Polling;

/// <summary>
/// A polling strategy and its knobs. Both daemons' command lines spell them the same way
/// (cli/PerfLab.CliOptions, PollOptionSet: --poll, --hybrid-*, --backoff-*). docs/polling.md
/// says how each strategy decides.
/// </summary>
public sealed record PollOptions
{
    public PollMode Mode { get; init; } = PollMode.Busy;
    public double HybridBudgetUs { get; init; } = 50;
    public long HybridMaxPolls { get; init; } = long.MaxValue;
    public bool HybridAdaptive { get; init; } = true;
    public double HybridMinUs { get; init; }
    public double HybridMaxUs { get; init; } = 200;
    public double HybridBreakEvenUs { get; init; } = 10;
    public double HybridNotifyPollUs { get; init; } = 50;

    /// <summary>The notify-poll window's ceiling; up to <see cref="HybridNotifyPollUs"/> the
    /// window stays fixed (the default: docs/polling.md says why).</summary>
    public double HybridNotifyWindowMaxUs { get; init; }

    /// <summary>Timed naps with notifications off when the budget runs out, before arming
    /// (0: none; <see cref="NapBudget"/>).</summary>
    public int HybridNaps { get; init; }
    public double HybridNapUs { get; init; } = 50;

    /// <summary>While frames flow, arm for a kick per this many buffers, each sleep bounded by
    /// <see cref="HybridKickTimeoutUs"/> (0 or 1: a kick per buffer; <see cref="KickBatch"/>).
    /// The back-end's only: the guest does not coalesce its calls.</summary>
    public int HybridKickBatch { get; init; }
    public double HybridKickTimeoutUs { get; init; } = 100;

    /// <summary>Above 0, with <see cref="HybridKickBatch"/> as the ceiling: the batch follows the
    /// rate so that it fills in about this long, wake-up included (<see cref="KickBatch"/>); the
    /// timeout is then at least twice this.</summary>
    public double HybridKickFillUs { get; init; }
    /// <summary>The back-end's worker registers the kick eventfds edge-triggered in its epoll
    /// set and does not read them on a wake-up (the back-end's only; false: level-triggered,
    /// each wake-up reads them to zero).</summary>
    public bool EdgeTriggeredKicks { get; init; } = true;

    public long BackoffSpins { get; init; } = 100;
    public long BackoffYields { get; init; } = 10;
    public double BackoffMinUs { get; init; } = 1;
    public double BackoffMaxUs { get; init; } = 100;

    public Hybrid CreateHybrid() => new((long)(HybridBudgetUs * 1000), HybridMaxPolls, HybridAdaptive,
        (long)(HybridMinUs * 1000), (long)(HybridMaxUs * 1000), (long)(HybridBreakEvenUs * 1000), (long)(HybridNotifyPollUs * 1000),
        (long)(HybridNotifyWindowMaxUs * 1000), HybridNaps, (long)(HybridNapUs * 1000),
        HybridKickBatch, (long)(KickTimeoutUs * 1000), (long)(HybridKickFillUs * 1000));

    /// <summary>The coalesced sleep's bound: a fill target's batch needs room to fill.</summary>
    private double KickTimeoutUs => Math.Max(HybridKickTimeoutUs, 2 * HybridKickFillUs);

    public static Interrupt CreateInterrupt() => new();

    public Backoff CreateBackoff() => new(BackoffSpins, BackoffYields, (long)(BackoffMinUs * 1000), (long)(BackoffMaxUs * 1000));

    public bool UsesNotifications => Mode is PollMode.Interrupt or PollMode.Hybrid;

    public static PollMode ParseMode(string s) => s.ToLowerInvariant() switch
    {
        "busy" or "busy-poll" or "poll" => PollMode.Busy,
        "interrupt" or "irq" or "notify" => PollMode.Interrupt,
        "hybrid" => PollMode.Hybrid,
        "backoff" => PollMode.Backoff,
        _ => throw new ArgumentException($"unknown poll mode '{s}' (busy|interrupt|hybrid|backoff)"),
    };

    public string Describe() => Mode switch
    {
        PollMode.Hybrid => HybridAdaptive
            ? $"hybrid(adaptive,budget={HybridMinUs}..{HybridMaxUs}us from {HybridBudgetUs}us,breakeven={HybridBreakEvenUs}us,notify-poll={HybridNotifyPollUs}{NotifyWindowMax}us{Polls}{Naps}{Kicks})"
            : $"hybrid(fixed,budget={HybridBudgetUs}us,breakeven={HybridBreakEvenUs}us{Polls}{Naps}{Kicks})",
        PollMode.Backoff => $"backoff(spins={BackoffSpins},yields={BackoffYields},sleep={BackoffMinUs}..{BackoffMaxUs}us)",
        _ => Mode.ToString().ToLowerInvariant(),
    };

    private string NotifyWindowMax => HybridNotifyWindowMaxUs > HybridNotifyPollUs ? $"..{HybridNotifyWindowMaxUs}" : "";

    private string Naps => HybridNaps > 0 ? $",naps={HybridNaps}x{HybridNapUs}us" : "";

    private string Kicks => HybridKickBatch <= 1 ? ""
        : HybridKickFillUs > 0 ? $",kick-batch=up to {HybridKickBatch} filling in {HybridKickFillUs}us/{KickTimeoutUs}us"
        : $",kick-batch={HybridKickBatch}/{HybridKickTimeoutUs}us";

    private string Polls => HybridMaxPolls != long.MaxValue ? $",polls={HybridMaxPolls}" : "";
}

namespace PerfLab.Vhost.Polling;

/// <summary>
/// A polling strategy and its knobs. Both daemons' command lines spell them the same way
/// (cli/PerfLab.CliOptions, PollOptionSet: --poll, --hybrid-*, --backoff-*).
/// </summary>
public sealed record PollOptions
{
    public PollMode Mode { get; init; } = PollMode.Busy;
    public double HybridBudgetUs { get; init; } = 50;
    public long HybridMaxPolls { get; init; } = long.MaxValue;
    public bool HybridAdaptive { get; init; } = true;
    public long BackoffSpins { get; init; } = 100;
    public long BackoffYields { get; init; } = 10;
    public double BackoffMinUs { get; init; } = 1;
    public double BackoffMaxUs { get; init; } = 100;

    public Hybrid CreateHybrid() => new((long)(HybridBudgetUs * 1000), HybridMaxPolls, HybridAdaptive);

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
        PollMode.Hybrid => $"hybrid(budget={HybridBudgetUs}us{(HybridMaxPolls != long.MaxValue ? $",polls={HybridMaxPolls}" : "")}{(HybridAdaptive ? ",adaptive" : ",fixed")})",
        PollMode.Backoff => $"backoff(spins={BackoffSpins},yields={BackoffYields},sleep={BackoffMinUs}..{BackoffMaxUs}us)",
        _ => Mode.ToString().ToLowerInvariant(),
    };
}

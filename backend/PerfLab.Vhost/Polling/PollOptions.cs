namespace PerfLab.Vhost.Polling;

/// <summary>
/// A polling strategy and its knobs, as parsed from a CLI (both CLIs share the spelling):
/// <c>--poll busy|interrupt|hybrid|backoff</c>, the hybrid knobs (<c>--hybrid-*</c>) and the
/// backoff ones (<c>--backoff-*</c>). docs/polling.md says how each strategy decides.
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
    public long BackoffSpins { get; init; } = 100;
    public long BackoffYields { get; init; } = 10;
    public double BackoffMinUs { get; init; } = 1;
    public double BackoffMaxUs { get; init; } = 100;

    public Hybrid CreateHybrid() => new((long)(HybridBudgetUs * 1000), HybridMaxPolls, HybridAdaptive,
        (long)(HybridMinUs * 1000), (long)(HybridMaxUs * 1000), (long)(HybridBreakEvenUs * 1000), (long)(HybridNotifyPollUs * 1000));

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

    /// <summary>Consumes the current option if it is a polling option; false otherwise.</summary>
    public static bool TryParseArg(Cli.ArgReader a, ref PollOptions o)
    {
        switch (a.Current)
        {
            case "--poll": o = o with { Mode = ParseMode(a.String()) }; return true;
            case "--hybrid-budget-us": o = o with { HybridBudgetUs = a.Double() }; return true;
            case "--hybrid-polls": o = o with { HybridMaxPolls = a.Long() }; return true;
            case "--hybrid-adaptive": o = o with { HybridAdaptive = true }; return true;
            case "--hybrid-fixed": o = o with { HybridAdaptive = false }; return true;
            case "--hybrid-min-us": o = o with { HybridMinUs = a.Double() }; return true;
            case "--hybrid-max-us": o = o with { HybridMaxUs = a.Double() }; return true;
            case "--hybrid-breakeven-us": o = o with { HybridBreakEvenUs = a.Double() }; return true;
            case "--hybrid-notify-poll-us": o = o with { HybridNotifyPollUs = a.Double() }; return true;
            case "--backoff-spins": o = o with { BackoffSpins = a.Long() }; return true;
            case "--backoff-yields": o = o with { BackoffYields = a.Long() }; return true;
            case "--backoff-min-us": o = o with { BackoffMinUs = a.Double() }; return true;
            case "--backoff-max-us": o = o with { BackoffMaxUs = a.Double() }; return true;
            default: return false;
        }
    }

    public const string HelpText =
"""
  --poll MODE              busy | interrupt | hybrid | backoff (default busy)
                             busy:      spin on the ring with a pause hint; notifications off
                             interrupt: sleep in epoll on the notification eventfds; re-arm,
                                        fence and re-check before every sleep
                             hybrid:    poll while frames keep coming, then arm and sleep
                                        as interrupt (docs/polling.md)
  --hybrid-budget-us US    hybrid: the poll budget after the last work (50); adaptive: where
                           it starts
  --hybrid-polls N         hybrid: or at most N empty polls, whichever ends first (no limit)
  --hybrid-adaptive        hybrid (default): the budget doubles when polling found work within
                           the break-even time and halves when it did not (within min..max);
                           a sleep never moves it; probes after a wake-up and after notifying
                           a sleeping peer let a pair that slept go back to polling
  --hybrid-fixed           hybrid: keep the budget fixed at --hybrid-budget-us
  --hybrid-min-us US       hybrid, adaptive: the budget's floor (0: at low load, interrupt)
  --hybrid-max-us US       hybrid, adaptive: the budget's ceiling (200, KVM's halt-poll max)
  --hybrid-breakeven-us US hybrid: a gap up to this long is cheaper to poll through than to
                           sleep through (10: about what a sleep costs here in CPU)
  --hybrid-notify-poll-us US
                           hybrid, adaptive: poll this long after notifying a sleeping peer,
                           for its wake-up and answer (50)
  --backoff-spins N        backoff: pause-spins before yielding (100)
  --backoff-yields N       backoff: Thread.Yield calls before sleeping (10)
  --backoff-min-us US      backoff: first sleep (1); clock_nanosleep, timer slack 1 us
  --backoff-max-us US      backoff: sleep cap, doubling from min (100)
""";

    public string Describe() => Mode switch
    {
        PollMode.Hybrid => HybridAdaptive
            ? $"hybrid(adaptive,budget={HybridMinUs}..{HybridMaxUs}us from {HybridBudgetUs}us,breakeven={HybridBreakEvenUs}us,notify-poll={HybridNotifyPollUs}us{Polls})"
            : $"hybrid(fixed,budget={HybridBudgetUs}us,breakeven={HybridBreakEvenUs}us{Polls})",
        PollMode.Backoff => $"backoff(spins={BackoffSpins},yields={BackoffYields},sleep={BackoffMinUs}..{BackoffMaxUs}us)",
        _ => Mode.ToString().ToLowerInvariant(),
    };

    private string Polls => HybridMaxPolls != long.MaxValue ? $",polls={HybridMaxPolls}" : "";
}

namespace PerfLab.Vhost.Polling;

/// <summary>
/// A polling strategy and its knobs, as parsed from a CLI (both CLIs share the spelling):
/// <c>--poll busy|interrupt|hybrid|backoff</c>, <c>--hybrid-budget-us</c>,
/// <c>--hybrid-polls</c>, <c>--hybrid-adaptive</c>, <c>--backoff-spins</c>,
/// <c>--backoff-yields</c>, <c>--backoff-min-us</c>, <c>--backoff-max-us</c>.
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
                             hybrid:    poll for a budget, then arm and sleep as interrupt
                             backoff:   spin, then yield, then sleep with doubling periods;
                                        notifications stay off
  --hybrid-budget-us US    hybrid: poll this long after the last work before sleeping (50;
                           adaptive: the starting budget)
  --hybrid-polls N         hybrid: or at most N empty polls, whichever ends first (no limit)
  --hybrid-adaptive        hybrid (default): the budget doubles after a sleep shorter than it
                           and halves after a longer one (0..200 us: at low load it becomes interrupt), like KVM halt-polling
  --hybrid-fixed           hybrid: keep the budget fixed
  --backoff-spins N        backoff: pause-spins before yielding (100)
  --backoff-yields N       backoff: Thread.Yield calls before sleeping (10)
  --backoff-min-us US      backoff: first sleep (1); clock_nanosleep, timer slack 1 us
  --backoff-max-us US      backoff: sleep cap, doubling from min (100)
""";

    public string Describe() => Mode switch
    {
        PollMode.Hybrid => $"hybrid(budget={HybridBudgetUs}us{(HybridMaxPolls != long.MaxValue ? $",polls={HybridMaxPolls}" : "")}{(HybridAdaptive ? ",adaptive" : ",fixed")})",
        PollMode.Backoff => $"backoff(spins={BackoffSpins},yields={BackoffYields},sleep={BackoffMinUs}..{BackoffMaxUs}us)",
        _ => Mode.ToString().ToLowerInvariant(),
    };
}

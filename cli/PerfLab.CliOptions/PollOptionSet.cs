using System.CommandLine;
using PerfLab.Vhost.Polling;

namespace PerfLab.CliOptions;

/// <summary>The polling strategy and its knobs, spelled the same in both daemons: --poll,
/// --hybrid-*, --backoff-*. Defaults are <see cref="PollOptions"/>'s.</summary>
public sealed class PollOptionSet
{
    private static readonly PollOptions D = new();

    public Option<PollMode> Poll { get; } = Opt.Choice("--poll",
        "how to wait for work. busy: spin on the rings with a pause hint, notifications off. "
        + "interrupt: sleep in epoll on the notification eventfds; re-arm, fence and re-check before every sleep. "
        + "hybrid: poll while frames keep coming, then arm and sleep as interrupt (docs/polling.md). "
        + "backoff: spin, then yield, then sleep with doubling periods; notifications stay off",
        D.Mode,
        [("busy", PollMode.Busy), ("interrupt", PollMode.Interrupt), ("hybrid", PollMode.Hybrid), ("backoff", PollMode.Backoff)],
        ("busy-poll", PollMode.Busy), ("poll", PollMode.Busy), ("irq", PollMode.Interrupt), ("notify", PollMode.Interrupt));

    public Option<double> HybridBudgetUs { get; } = Opt.Number("--hybrid-budget-us", "US",
        "hybrid: the poll budget after the last work; adaptive: where it starts", D.HybridBudgetUs);

    public Option<long> HybridPolls { get; } = Opt.Long("--hybrid-polls", "N",
        "hybrid: or at most N empty polls, whichever ends first", D.HybridMaxPolls, min: 1);

    public Option<bool> HybridAdaptive { get; } = Opt.Flag("--hybrid-adaptive",
        "hybrid (default): the budget doubles when polling found work within the break-even time and halves when it did not "
        + "(within min..max); a sleep never moves it; probes after a wake-up and after notifying a sleeping peer let a pair that slept go back to polling");

    public Option<bool> HybridFixed { get; } = Opt.Flag("--hybrid-fixed", "hybrid: keep the budget fixed at --hybrid-budget-us");

    public Option<double> HybridMinUs { get; } = Opt.Number("--hybrid-min-us", "US",
        "hybrid, adaptive: the budget's floor (0: at low load, interrupt)", D.HybridMinUs);

    public Option<double> HybridMaxUs { get; } = Opt.Number("--hybrid-max-us", "US",
        "hybrid, adaptive: the budget's ceiling (KVM's halt-poll max)", D.HybridMaxUs);

    public Option<double> HybridBreakEvenUs { get; } = Opt.Number("--hybrid-breakeven-us", "US",
        "hybrid: a gap up to this long is cheaper to poll through than to sleep through (about what a sleep costs here in CPU)", D.HybridBreakEvenUs);

    public Option<double> HybridNotifyPollUs { get; } = Opt.Number("--hybrid-notify-poll-us", "US",
        "hybrid, adaptive: poll this long after notifying a sleeping peer, for its wake-up and answer (the window; see --hybrid-notify-window-max-us)", D.HybridNotifyPollUs);

    public Option<double> HybridNotifyWindowMaxUs { get; } = Opt.Number("--hybrid-notify-window-max-us", "US",
        "hybrid, adaptive: the notify-poll window doubles after an answer missed by little, up to this "
        + "(e.g. 200, as --hybrid-max-us: pairs taking turns on slow wake-ups find polling again; "
        + "up to --hybrid-notify-poll-us: a fixed window)", D.HybridNotifyWindowMaxUs);

    public Option<int> HybridNaps { get; } = Opt.Int("--hybrid-naps", "N",
        "hybrid: when the budget runs out, take up to N timed naps of --hybrid-nap-us with notifications off, "
        + "polling after each, before arming (NAPI's napi_defer_hard_irqs; for a peer that polls; 0: arm at once)", D.HybridNaps, min: 0);

    public Option<double> HybridNapUs { get; } = Opt.Number("--hybrid-nap-us", "US",
        "hybrid with --hybrid-naps: each nap's length (clock_nanosleep, timer slack 1 us; NAPI's gro_flush_timeout)", D.HybridNapUs, positive: true);

    public Option<long> BackoffSpins { get; } = Opt.Long("--backoff-spins", "N", "backoff: pause-spins before yielding", D.BackoffSpins);

    public Option<long> BackoffYields { get; } = Opt.Long("--backoff-yields", "N", "backoff: Thread.Yield calls before sleeping", D.BackoffYields);

    public Option<double> BackoffMinUs { get; } = Opt.Number("--backoff-min-us", "US",
        "backoff: first sleep (clock_nanosleep, timer slack 1 us)", D.BackoffMinUs, positive: true);

    public Option<double> BackoffMaxUs { get; } = Opt.Number("--backoff-max-us", "US", "backoff: sleep cap, doubling from the first", D.BackoffMaxUs, positive: true);

    /// <summary>Every option of the set, in help order.</summary>
    public Option[] All => [Poll, HybridBudgetUs, HybridPolls, HybridAdaptive, HybridFixed,
        HybridMinUs, HybridMaxUs, HybridBreakEvenUs, HybridNotifyPollUs, HybridNotifyWindowMaxUs, HybridNaps, HybridNapUs, BackoffSpins, BackoffYields, BackoffMinUs, BackoffMaxUs];

    public PollOptions Bind(ParseResult r)
    {
        if (r.GetValue(HybridAdaptive) && r.GetValue(HybridFixed))
        {
            throw new ArgumentException("--hybrid-adaptive and --hybrid-fixed exclude each other");
        }
        double min = r.GetValue(BackoffMinUs), max = r.GetValue(BackoffMaxUs);
        if (min > max)
        {
            throw new ArgumentException($"--backoff-min-us {min} exceeds --backoff-max-us {max}");
        }
        return new PollOptions
        {
            Mode = r.GetValue(Poll),
            HybridBudgetUs = r.GetValue(HybridBudgetUs),
            HybridMaxPolls = r.GetValue(HybridPolls),
            HybridAdaptive = !r.GetValue(HybridFixed),
            HybridMinUs = r.GetValue(HybridMinUs),
            HybridMaxUs = r.GetValue(HybridMaxUs),
            HybridBreakEvenUs = r.GetValue(HybridBreakEvenUs),
            HybridNotifyPollUs = r.GetValue(HybridNotifyPollUs),
            HybridNotifyWindowMaxUs = r.GetValue(HybridNotifyWindowMaxUs),
            HybridNaps = r.GetValue(HybridNaps),
            HybridNapUs = r.GetValue(HybridNapUs),
            BackoffSpins = r.GetValue(BackoffSpins),
            BackoffYields = r.GetValue(BackoffYields),
            BackoffMinUs = min,
            BackoffMaxUs = max,
        };
    }
}

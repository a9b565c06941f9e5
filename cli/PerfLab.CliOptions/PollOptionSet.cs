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
        + "hybrid: poll for a budget, then arm and sleep as interrupt. "
        + "backoff: spin, then yield, then sleep with doubling periods; notifications stay off",
        D.Mode,
        [("busy", PollMode.Busy), ("interrupt", PollMode.Interrupt), ("hybrid", PollMode.Hybrid), ("backoff", PollMode.Backoff)],
        ("busy-poll", PollMode.Busy), ("poll", PollMode.Busy), ("irq", PollMode.Interrupt), ("notify", PollMode.Interrupt));

    public Option<double> HybridBudgetUs { get; } = Opt.Number("--hybrid-budget-us", "US",
        "hybrid: poll this long after the last work before sleeping (adaptive: the starting budget)", D.HybridBudgetUs);

    public Option<long> HybridPolls { get; } = Opt.Long("--hybrid-polls", "N",
        "hybrid: or at most N empty polls, whichever ends first", D.HybridMaxPolls, min: 1);

    public Option<bool> HybridAdaptive { get; } = Opt.Flag("--hybrid-adaptive",
        "hybrid (default): the budget doubles after a sleep shorter than it and halves after a longer one (0..200 us: at low load it becomes interrupt), like KVM halt-polling");

    public Option<bool> HybridFixed { get; } = Opt.Flag("--hybrid-fixed", "hybrid: keep the budget fixed");

    public Option<long> BackoffSpins { get; } = Opt.Long("--backoff-spins", "N", "backoff: pause-spins before yielding", D.BackoffSpins);

    public Option<long> BackoffYields { get; } = Opt.Long("--backoff-yields", "N", "backoff: Thread.Yield calls before sleeping", D.BackoffYields);

    public Option<double> BackoffMinUs { get; } = Opt.Number("--backoff-min-us", "US",
        "backoff: first sleep (clock_nanosleep, timer slack 1 us)", D.BackoffMinUs, positive: true);

    public Option<double> BackoffMaxUs { get; } = Opt.Number("--backoff-max-us", "US", "backoff: sleep cap, doubling from the first", D.BackoffMaxUs, positive: true);

    /// <summary>Every option of the set, in help order.</summary>
    public Option[] All => [Poll, HybridBudgetUs, HybridPolls, HybridAdaptive, HybridFixed, BackoffSpins, BackoffYields, BackoffMinUs, BackoffMaxUs];

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
            BackoffSpins = r.GetValue(BackoffSpins),
            BackoffYields = r.GetValue(BackoffYields),
            BackoffMinUs = min,
            BackoffMaxUs = max,
        };
    }
}

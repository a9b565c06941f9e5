namespace PerfLab.Tests.Polling;

/// <summary>A rule that never changes its mind: always poll, or never.</summary>
public abstract class ConstantSimRule(bool poll) : ISimRule
{
    public void OnWork()
    {
    }

    public bool KeepPolling(long nowNs, long notificationsSent) => poll;

    public void OnPollExpired()
    {
    }

    public void OnSleepEnded(bool slept, long sleptNs)
    {
    }

    public long PollBeforeDeadlineNs => 0;

    public double BudgetNs => poll ? double.PositiveInfinity : 0;
}

/// <summary>Busy polling: never sleeps (the reference of every ratio).</summary>
public sealed class BusySimRule() : ConstantSimRule(poll: true);

/// <summary>Interrupt: sleeps whenever a round finds nothing.</summary>
public sealed class InterruptSimRule() : ConstantSimRule(poll: false);

/// <summary>
/// The adaptive hybrid rule PerfLab shipped until issue 17, decision for decision: poll for the
/// budget after the last work, then sleep; after the sleep, double the budget (from at least
/// 0.5 µs) if the sleep was shorter than the budget, halve it otherwise; at most 200 µs. Kept
/// here as the model of the collapse: a sleep is long because the other side sleeps too, so
/// both budgets fall to zero.
/// </summary>
public sealed class HalvingSimRule(long startBudgetNs) : ISimRule
{
    private const long MinNs = 500, MaxNs = 200_000;
    private long _budget = startBudgetNs;
    private long _idleSince = -1;

    public void OnWork() => _idleSince = -1;

    public bool KeepPolling(long nowNs, long notificationsSent)
    {
        if (_idleSince < 0)
        {
            _idleSince = nowNs;
        }
        return nowNs - _idleSince < _budget;
    }

    public void OnPollExpired()
    {
    }

    public void OnSleepEnded(bool slept, long sleptNs)
    {
        long b = sleptNs < _budget ? Math.Max(_budget * 2, MinNs) : _budget / 2;
        _budget = Math.Min(b, MaxNs);
        _idleSince = -1;
    }

    public long PollBeforeDeadlineNs => 0;

    public double BudgetNs => _budget;
}

/// <summary>The hybrid rule PerfLab ships (<see cref="Vhost.Polling.HybridRule"/>), in ns.</summary>
public sealed class HybridSimRule : ISimRule
{
    private Vhost.Polling.HybridRule _rule;

    public HybridSimRule(long startBudgetNs, long minNs = 0, long maxNs = 200_000, long breakEvenNs = 10_000, long notifyPollNs = 50_000, bool adaptive = true,
        long notifyWindowMaxNs = 0)
        => _rule = new Vhost.Polling.HybridRule(startBudgetNs, minNs, maxNs, breakEvenNs, notifyPollNs, adaptive, notifyWindowMaxNs);

    public void OnWork() => _rule.OnWork();

    public bool KeepPolling(long nowNs, long notificationsSent)
    {
        if (!_rule.InIdlePeriod)
        {
            _rule.StartIdle(nowNs, notificationsSent);
        }
        return _rule.KeepPolling(nowNs);
    }

    public void OnPollExpired() => _rule.OnPollExpired();

    public void OnSleepEnded(bool slept, long sleptNs) => _rule.OnSleepEnded(slept, sleptNs);

    public long PollBeforeDeadlineNs => _rule.BreakEvenTicks;

    public double BudgetNs => _rule.BudgetTicks;

    public double NotifyWindowNs => _rule.NotifyWindowTicks;

    public long NotifyPolls => _rule.NotifyPolls;

    public long WakeProbes => _rule.WakeProbes;

    public override string ToString() => $"notify-polls {NotifyPolls} wake-probes {WakeProbes} window {NotifyWindowNs / 1000:F0} µs";
}

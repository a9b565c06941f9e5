using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Interop;

namespace PerfLab.Vhost.Polling;

/// <summary>Spin on the ring with a CPU pause hint; notifications stay off. Lowest latency,
/// one core at 100 %.</summary>
public struct BusyPoll : IIdleStrategy
{
    public readonly bool UsesNotifications => false;

    public readonly PollStats? Stats => null;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnWork()
    {
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Idle<T>(ref T target) where T : struct, IWaitTarget => Pause.Once();
}

/// <summary>
/// Sleep in epoll on the notification fds whenever a round finds nothing. Before sleeping:
/// re-enable notifications, full fence, re-check the rings (so a buffer posted in between is
/// never missed); after waking: drain the fds and turn notifications off while processing.
/// The reference the others are measured against: its ceiling is a ring per two wake-ups when
/// both sides sleep (docs/polling.md).
/// </summary>
public struct Interrupt : IIdleStrategy
{
    public Interrupt() => Stats = new PollStats();

    public readonly bool UsesNotifications => true;

    /// <summary>Null for a default-initialised struct (nothing is counted then).</summary>
    public PollStats? Stats { get; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnWork()
    {
    }

    public void Idle<T>(ref T target) where T : struct, IWaitTarget => ArmAndSleep(ref target, Stats);

    /// <summary>Arms, re-checks, sleeps unless work is pending, disarms; counts what happened.
    /// Returns whether it slept.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool ArmAndSleep<T>(ref T target, PollStats? stats) where T : struct, IWaitTarget => ArmAndSleep(ref target, stats, out _);

    /// <summary>As above; <paramref name="sleptTicks"/> is how long the sleep lasted (0 when the
    /// re-check found work).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool ArmAndSleep<T>(ref T target, PollStats? stats, out long sleptTicks) where T : struct, IWaitTarget =>
        ArmAndSleep(ref target, stats, 1, -1, out sleptTicks, out _);

    /// <summary>As above, the peer allowed <paramref name="kickAhead"/> buffers before it
    /// notifies and the sleep bounded by <paramref name="timeoutNs"/> (-1: none; see
    /// <see cref="KickBatch"/>); <paramref name="notified"/> is false when the timeout ended it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool ArmAndSleep<T>(ref T target, PollStats? stats, int kickAhead, long timeoutNs, out long sleptTicks, out bool notified)
        where T : struct, IWaitTarget
    {
        long t0 = Clock.Now();
        bool slept = kickAhead > 1 ? !target.ArmCoalesced(kickAhead) : !target.Arm();
        notified = true;
        if (slept)
        {
            if (timeoutNs < 0)
            {
                target.Block();
            }
            else
            {
                notified = target.BlockFor(timeoutNs);
            }
        }
        target.Disarm();
        sleptTicks = slept ? Clock.Now() - t0 : 0;
        if (stats == null)
        {
            return slept;
        }
        if (slept)
        {
            stats.RecordSleep((long)Clock.TicksToNs(sleptTicks));
        }
        else
        {
            stats.ArmsFoundWork++;
        }
        return slept;
    }
}

/// <summary>
/// Poll while frames keep coming, sleep as <see cref="Interrupt"/> when they stop: NAPI
/// busy-poll with IRQ suspension, vhost-net's busyloop_timeout, KVM halt-polling, DPDK's
/// empty-poll threshold. After the last work the loop polls up to a budget, then arms
/// notifications and sleeps. Adaptive (the default), the budget follows
/// <see cref="HybridRule"/>: it moves only on what polling showed, never on how long a sleep
/// lasted, so two hybrid loops cannot talk each other into sleeping under load. Fixed, it
/// stays put. A send of the loop's own due sooner than the break-even time is polled for, not
/// slept for. The budget is a time and, optionally, a number of empty polls, whichever ends
/// first. Optionally (<see cref="NapBudget"/>), when the budget runs out the loop first takes a
/// few timed naps with notifications off, NAPI's deferred re-arm. Optionally
/// (<see cref="KickBatch"/>), while frames flow it arms for a kick per batch of buffers with a
/// timeout, so that one wake-up serves several bursts.
/// </summary>
public struct Hybrid : IIdleStrategy
{
    private HybridRule _rule;
    private NapBudget _naps;
    private KickBatch _kicks;
    private readonly long _maxEmptyPolls;
    private readonly long _deadlinePollNs;
    private readonly long _napNs;
    private long _emptyPolls;
    private bool _expired;

    /// <param name="budgetNs">the fixed budget, or the adaptive one's start</param>
    /// <param name="maxEmptyPolls">also stop polling after this many empty polls</param>
    /// <param name="adaptive">follow <see cref="HybridRule"/></param>
    /// <param name="minNs">the adaptive budget's floor</param>
    /// <param name="maxNs">the adaptive budget's ceiling</param>
    /// <param name="breakEvenNs">a gap up to this long is cheaper to poll through than to sleep
    /// through (about the CPU a sleep costs)</param>
    /// <param name="notifyPollNs">how long to poll after notifying a sleeping peer, at first</param>
    /// <param name="notifyWindowMaxNs">how long that may grow to with slow wake-ups (up to
    /// <paramref name="notifyPollNs"/>: fixed)</param>
    /// <param name="naps">when the budget runs out, timed naps with notifications off before
    /// arming (<see cref="NapBudget"/>; 0: arm at once)</param>
    /// <param name="napNs">each nap's length</param>
    /// <param name="kickBatch">while frames flow, buffers per kick (<see cref="KickBatch"/>; 1 or
    /// less: a kick per buffer)</param>
    /// <param name="kickTimeoutNs">with a kick batch, the longest sleep</param>
    /// <param name="kickFillNs">with a kick batch, above 0: the batch follows the rate so that it
    /// fills in about this long (<paramref name="kickBatch"/> its ceiling)</param>
    public Hybrid(long budgetNs, long maxEmptyPolls = long.MaxValue, bool adaptive = false,
        long minNs = 0, long maxNs = 200_000, long breakEvenNs = 10_000, long notifyPollNs = 50_000, long notifyWindowMaxNs = 0,
        int naps = 0, long napNs = 50_000, int kickBatch = 0, long kickTimeoutNs = 100_000, long kickFillNs = 0)
    {
        _kicks = new KickBatch(kickBatch, kickTimeoutNs, kickFillNs);
        _rule = new HybridRule(Clock.NsToTicks(budgetNs), Clock.NsToTicks(minNs), Clock.NsToTicks(Math.Max(maxNs, budgetNs)),
            Clock.NsToTicks(breakEvenNs), Clock.NsToTicks(notifyPollNs), adaptive,
            Clock.NsToTicks(notifyWindowMaxNs));
        _maxEmptyPolls = maxEmptyPolls;
        _deadlinePollNs = breakEvenNs;
        _naps = new NapBudget(naps);
        _napNs = napNs;
        Stats = new PollStats();
        Publish();
    }

    public readonly bool UsesNotifications => true;

    /// <summary>Null for a default-initialised struct (nothing is counted then).</summary>
    public PollStats? Stats { get; }

    /// <summary>The current time budget (it moves when adaptive).</summary>
    public readonly double CurrentBudgetNs => Clock.TicksToNs(_rule.BudgetTicks);

    /// <summary>The current notify-poll window (it follows the wake-ups seen when adaptive).</summary>
    public readonly double CurrentNotifyWindowNs => Clock.TicksToNs(_rule.NotifyWindowTicks);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnWork()
    {
        if (_rule.Deciding | _naps.Napped | _kicks.Deciding)
        {
            EndIdle();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EndIdle()
    {
        _rule.OnWork();
        _kicks.OnWork();
        _expired = false;
        if (_naps.OnWork() && Stats != null)
        {
            Stats.NapsFoundWork++;
        }
        Publish();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Idle<T>(ref T target) where T : struct, IWaitTarget
    {
        if (!_expired)
        {
            long now = Clock.Now();
            if (!_rule.InIdlePeriod)
            {
                _rule.StartIdle(now, target.NotificationsSent);
                _kicks.OnIdle();
                _emptyPolls = 0;
            }
            if (_rule.KeepPolling(now) && ++_emptyPolls < _maxEmptyPolls)
            {
                Pause.Once();
                return;
            }
            _rule.OnPollExpired();
            _expired = true;
        }
        // A send of the loop's own due sooner than a sleep would pay for: poll for it.
        if (target.NsUntilDeadline < _deadlinePollNs)
        {
            Pause.Once();
            return;
        }
        if (_naps.TryTake())
        {
            Nap(target.NsUntilDeadline);
            return;
        }
        Sleep(ref target);
    }

    /// <summary>A timed nap with notifications still off; the loop polls once after it.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private readonly void Nap(long nsUntilDeadline)
    {
        NanoSleep.Sleep(Math.Min(_napNs, nsUntilDeadline));
        if (Stats != null)
        {
            Stats.Naps++;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Sleep<T>(ref T target) where T : struct, IWaitTarget
    {
        _expired = false;
        _naps.Refill();
        int ahead = _kicks.Ahead;
        bool slept = Interrupt.ArmAndSleep(ref target, Stats, ahead, _kicks.SleepTimeoutNs, out long sleptTicks, out bool notified);
        _kicks.OnSleepEnded(slept, notified, coalesced: ahead > 1, (long)Clock.TicksToNs(sleptTicks));
        _rule.OnSleepEnded(slept, sleptTicks);
        Publish();
    }

    private readonly void Publish()
    {
        if (Stats != null)
        {
            Stats.BudgetNs = (long)Clock.TicksToNs(_rule.BudgetTicks);
            Stats.NotifyWindowNs = (long)Clock.TicksToNs(_rule.NotifyWindowTicks);
            Stats.NotifyPolls = _rule.NotifyPolls;
            Stats.WakeProbes = _rule.WakeProbes;
            Stats.CoalescedSleeps = _kicks.CoalescedSleeps;
            Stats.KickTimeouts = _kicks.Timeouts;
            Stats.KickTimeoutsFoundWork = _kicks.TimeoutsFoundWork;
            Stats.KickBatch = _kicks.Enabled ? _kicks.Batch : 0;
        }
    }
}

/// <summary>
/// Spin, then yield, then sleep with a doubling period, reset on work: Agrona's
/// BackoffIdleStrategy, with sleeps in nanoseconds (clock_nanosleep) because .NET's
/// Thread.Sleep only takes milliseconds. Notifications stay off: this is polling that gets
/// lazier, so latency is bounded by <see cref="MaxSleepNs"/>.
/// </summary>
public struct Backoff : IIdleStrategy
{
    public long MaxSpins;
    public long MaxYields;
    public long MinSleepNs;
    public long MaxSleepNs;

    private long _spins;
    private long _yields;
    private long _sleepNs;

    public Backoff(long maxSpins, long maxYields, long minSleepNs, long maxSleepNs)
    {
        MaxSpins = maxSpins;
        MaxYields = maxYields;
        MinSleepNs = minSleepNs;
        MaxSleepNs = maxSleepNs;
        _sleepNs = minSleepNs;
        Stats = new PollStats();
    }

    public readonly bool UsesNotifications => false;

    /// <summary>Its naps, by length (null for a default-initialised struct).</summary>
    public PollStats? Stats { get; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnWork()
    {
        _spins = 0;
        _yields = 0;
        _sleepNs = MinSleepNs;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Idle<T>(ref T target) where T : struct, IWaitTarget
    {
        if (_spins < MaxSpins)
        {
            _spins++;
            Pause.Once();
        }
        else if (_yields < MaxYields)
        {
            _yields++;
            Thread.Yield();
        }
        else
        {
            SleepOnce(target.NsUntilDeadline);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void SleepOnce(long nsUntilDeadline)
    {
        long ns = Math.Min(_sleepNs, nsUntilDeadline);
        if (ns > 0)
        {
            long t0 = Clock.Now();
            NanoSleep.Sleep(ns);
            Stats?.RecordSleep((long)Clock.TicksToNs(Clock.Now() - t0));
        }
        _sleepNs = Math.Min(_sleepNs * 2, MaxSleepNs);
    }
}

/// <summary>The CPU pause hint (PAUSE on x86; a SpinWait elsewhere).</summary>
public static class Pause
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Once()
    {
        if (X86Base.IsSupported)
        {
            X86Base.Pause();
        }
        else
        {
            Thread.SpinWait(1);
        }
    }
}

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
/// </summary>
public struct Interrupt : IIdleStrategy
{
    public readonly bool UsesNotifications => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnWork()
    {
    }

    public void Idle<T>(ref T target) where T : struct, IWaitTarget
    {
        if (!target.Arm())
        {
            target.Block();
        }
        target.Disarm();
    }
}

/// <summary>
/// Poll for a budget, then arm notifications and sleep: NAPI busy-poll, vhost-net's
/// busyloop_timeout, cloud-hypervisor's poll-then-rearm. The budget is a time (µs) and/or a
/// number of empty polls, whichever ends first. With <see cref="Adaptive"/> the time budget
/// grows ×2 when a sleep was short (work came soon after giving up: we slept too early) and
/// shrinks ÷2 when a sleep was long, down to zero (pure interrupt) and up to
/// <see cref="MaxBudgetNs"/>, growing from at least <see cref="MinBudgetNs"/>, like KVM's
/// halt-polling.
/// </summary>
public struct Hybrid : IIdleStrategy
{
    public long BudgetNs;
    public long MaxEmptyPolls;
    public bool Adaptive;
    public long MinBudgetNs;
    public long MaxBudgetNs;

    private long _idleSince;
    private long _emptyPolls;
    private long _budgetTicks;

    public Hybrid(long budgetNs, long maxEmptyPolls = long.MaxValue, bool adaptive = false)
    {
        BudgetNs = budgetNs;
        MaxEmptyPolls = maxEmptyPolls;
        Adaptive = adaptive;
        MinBudgetNs = 500;
        MaxBudgetNs = Math.Max(budgetNs, 200_000);
        _budgetTicks = Clock.NsToTicks(budgetNs);
    }

    public readonly bool UsesNotifications => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnWork()
    {
        _emptyPolls = 0;
        _idleSince = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Idle<T>(ref T target) where T : struct, IWaitTarget
    {
        long now = Clock.Now();
        if (_emptyPolls++ == 0)
        {
            _idleSince = now;
        }
        if (now - _idleSince < _budgetTicks && _emptyPolls < MaxEmptyPolls && target.NsUntilDeadline > 0)
        {
            Pause.Once();
            return;
        }
        Sleep(ref target);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Sleep<T>(ref T target) where T : struct, IWaitTarget
    {
        long before = Clock.Now();
        if (!target.Arm())
        {
            target.Block();
        }
        target.Disarm();
        if (Adaptive)
        {
            long slept = Clock.Now() - before;
            long budget = _budgetTicks;
            // Woken within the budget: polling a little longer would have caught it.
            // A long sleep halves it, down to nothing: at low load hybrid becomes interrupt, as
            // spinning before every wake-up only adds CPU (10% load: 0.25 of busy's CPU with a
            // 1 µs floor, against interrupt's 0.18). A short one doubles it, from at least
            // MinBudgetNs.
            budget = slept < _budgetTicks ? Math.Max(budget * 2, Clock.NsToTicks(MinBudgetNs)) : budget / 2;
            _budgetTicks = Math.Min(budget, Clock.NsToTicks(MaxBudgetNs));
        }
        _emptyPolls = 0;
    }

    /// <summary>The current time budget (it moves when adaptive).</summary>
    public readonly double CurrentBudgetNs => Clock.TicksToNs(_budgetTicks);
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
    }

    public readonly bool UsesNotifications => false;

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
            NanoSleep.Sleep(ns);
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

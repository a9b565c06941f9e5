using PerfLab.Vhost.Polling;
using Xunit;

namespace PerfLab.Tests.Polling;

/// <summary>
/// The notify-poll window, decision by decision (times in ns, as the simulation feeds them):
/// it doubles when the answer came soon after the side gave up, up to the budget's ceiling, and
/// halves when an answer comes within a quarter of it, when the answer lay beyond the ceiling,
/// or when the side sleeps long.
/// </summary>
public class HybridRuleWindowTests
{
    private const long NotifyPoll = 50_000, Max = 200_000;

    private static HybridRule NewRule(long budget = 0) => new(budget, 0, Max, 10_000, NotifyPoll, adaptive: true, notifyWindowMaxTicks: Max);

    /// <summary>A round that notified the peer, then empty polls until the rule stops at
    /// <paramref name="until"/> (a notify-poll), or finds work at <paramref name="foundAt"/>.
    /// Returns when the idle period ended.</summary>
    private static long NotifyPollAt(ref HybridRule rule, long t, ref long notifications, long foundAt = -1)
    {
        notifications++;
        rule.StartIdle(t, notifications);
        for (long now = t; ; now += 100)
        {
            if (foundAt >= 0 && now >= t + foundAt)
            {
                rule.OnWork();
                return now;
            }
            if (!rule.KeepPolling(now))
            {
                rule.OnPollExpired();
                return now;
            }
        }
    }

    [Fact]
    public void AMissedAnswerSoonAfterGivingUpDoublesTheWindowUpToTheCeiling()
    {
        HybridRule rule = NewRule();
        long notifications = 0, t = 0;
        Assert.Equal(NotifyPoll, rule.NotifyWindowTicks);
        foreach (long expected in new long[] { 100_000, 200_000, 200_000 })
        {
            long gaveUp = NotifyPollAt(ref rule, t, ref notifications);
            Assert.InRange(gaveUp - t, rule.NotifyWindowTicks, rule.NotifyWindowTicks + 100); // it lasted the window
            // The answer came 150 µs after the notification; this side ran 150 µs after that.
            long slept = t + 300_000 - gaveUp;
            rule.OnSleepEnded(true, slept);
            Assert.Equal(expected, rule.NotifyWindowTicks);
            t += 1_000_000;
        }
    }

    [Fact]
    public void AnAnswerWithinAQuarterOfTheWindowHalvesIt()
    {
        HybridRule rule = NewRule();
        long notifications = 0;
        long gaveUp = NotifyPollAt(ref rule, 0, ref notifications);
        rule.OnSleepEnded(true, 300_000 - gaveUp);
        Assert.Equal(100_000, rule.NotifyWindowTicks);
        NotifyPollAt(ref rule, 1_000_000, ref notifications, foundAt: 20_000);
        Assert.Equal(NotifyPoll, rule.NotifyWindowTicks);
    }

    [Fact]
    public void AnAnswerBeyondTheCeilingOrALongSleepHalvesItToTheStart()
    {
        HybridRule rule = NewRule();
        long notifications = 0, t = 0;
        for (int i = 0; i < 2; i++, t += 1_000_000)
        {
            long gaveUp = NotifyPollAt(ref rule, t, ref notifications);
            rule.OnSleepEnded(true, t + 300_000 - gaveUp);
        }
        Assert.Equal(Max, rule.NotifyWindowTicks);
        // The peer answered 600 µs after the notification: out of reach, the window shrinks.
        long late = NotifyPollAt(ref rule, t, ref notifications);
        rule.OnSleepEnded(true, t + 900_000 - late);
        Assert.Equal(100_000, rule.NotifyWindowTicks);
        // Then the side stays idle: a sleep of 10 ms after an ordinary idle period.
        t += 2_000_000;
        rule.StartIdle(t, notifications);
        while (rule.KeepPolling(t))
        {
            t += 100;
        }
        rule.OnPollExpired();
        rule.OnSleepEnded(true, 10_000_000);
        Assert.Equal(NotifyPoll, rule.NotifyWindowTicks);
    }

    [Fact]
    public void ByDefaultTheWindowStaysFixed()
    {
        HybridRule rule = new(0, 0, Max, 10_000, NotifyPoll, adaptive: true);
        long notifications = 0;
        long gaveUp = NotifyPollAt(ref rule, 0, ref notifications);
        rule.OnSleepEnded(true, 300_000 - gaveUp);
        Assert.Equal(NotifyPoll, rule.NotifyWindowTicks);
    }
}

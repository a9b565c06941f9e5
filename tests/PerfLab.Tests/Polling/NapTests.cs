using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Polling;

/// <summary>
/// The hybrid strategy's naps (NAPI's deferred re-arm): when the budget runs out, up to N timed
/// naps with notifications off, each followed by one poll, then the usual arm and sleep. Counted
/// decisions only, no timing.
/// </summary>
public class NapTests
{
    [Fact]
    public void TakesItsNapsThenArmsAndRefillsOnWorkOrSleep()
    {
        var n = new NapBudget(2);
        Assert.True(n.TryTake());
        Assert.True(n.Napped);
        Assert.True(n.TryTake());
        Assert.False(n.TryTake()); // arm and sleep now
        n.Refill();                 // it slept
        Assert.False(n.Napped);
        Assert.True(n.TryTake());
        Assert.True(n.OnWork());    // work found after a nap
        Assert.False(n.OnWork());   // ... and not after one now
        Assert.True(n.TryTake());
        Assert.True(n.TryTake());
        Assert.False(n.TryTake());
    }

    [Fact]
    public void WithoutNapsItArmsAtOnce()
    {
        var n = new NapBudget(0);
        Assert.False(n.TryTake());
        Assert.False(n.Napped);
        Assert.False(n.OnWork());
    }

    /// <summary>What the target saw: arms (each followed by a sleep, nothing is ever pending).</summary>
    private sealed class Seen
    {
        public int Arms;
        public int Disarms;
        public int Blocks;
    }

    private readonly struct Target(Seen seen) : IWaitTarget
    {
        public bool Arm()
        {
            seen.Arms++;
            return false;
        }

        public void Disarm() => seen.Disarms++;

        public void Block() => seen.Blocks++;

        public bool ArmCoalesced(int kickAhead) => Arm();

        public bool BlockFor(long timeoutNs)
        {
            Block();
            return true;
        }

        public long NsUntilDeadline => long.MaxValue;

        public long NotificationsSent => 0;
    }

    /// <summary>A zero fixed budget, so every idle step past the naps arms at once; naps of 1 µs.</summary>
    private static Hybrid NewHybrid(int naps) => new(0, adaptive: false, naps: naps, napNs: 1_000);

    [Fact]
    public void HybridNapsWithNotificationsOffBeforeArming()
    {
        var seen = new Seen();
        var target = new Target(seen);
        Hybrid h = NewHybrid(3);
        for (int i = 0; i < 3; i++)
        {
            h.Idle(ref target);
        }
        Assert.Equal(3, h.Stats!.Naps);
        Assert.Equal(0, seen.Arms); // notifications stayed off
        h.Idle(ref target);
        Assert.Equal(1, seen.Arms);
        Assert.Equal(1, seen.Blocks);
        Assert.Equal(1, h.Stats.Sleeps);
        h.Idle(ref target);         // the next idle period naps again
        Assert.Equal(4, h.Stats.Naps);
        h.OnWork();
        Assert.Equal(1, h.Stats.NapsFoundWork);
        h.Idle(ref target);
        Assert.Equal(5, h.Stats.Naps);
        Assert.Equal(1, seen.Arms);
    }

    [Fact]
    public void HybridWithoutNapsArmsAtOnce()
    {
        var seen = new Seen();
        var target = new Target(seen);
        Hybrid h = NewHybrid(0);
        h.Idle(ref target);
        Assert.Equal(1, seen.Arms);
        Assert.Equal(0, h.Stats!.Naps);
    }

    [Fact]
    public void NappingAndSleepingAllocateNothing()
    {
        var seen = new Seen();
        var target = new Target(seen);
        Hybrid h = NewHybrid(2);
        void Iterate(int rounds)
        {
            for (int i = 0; i < rounds; i++)
            {
                h.Idle(ref target); // nap
                h.Idle(ref target); // nap
                h.Idle(ref target); // arm, sleep
                h.Idle(ref target); // nap
                h.OnWork();
            }
        }
        Iterate(200);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Iterate(200);
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0L, after - before);
        Assert.Equal(1200, h.Stats!.Naps);
        Assert.Equal(400, h.Stats.NapsFoundWork);
    }

    /// <summary>A napping hybrid back-end returns each TX burst at once: a held burst would
    /// otherwise wait out a nap (the guest's TX ring fills at light load).</summary>
    [Fact]
    public void NappingReturnsTxBurstsAtOnce()
    {
        var naps = new PollOptions { Mode = PollMode.Hybrid, HybridNaps = 2 };
        Assert.Equal(TxReturn.Immediate, TxReturnRule.Effective(TxReturn.Auto, naps));
        Assert.Equal(TxReturn.Auto, TxReturnRule.Effective(TxReturn.Auto, naps with { HybridNaps = 0 }));
        Assert.Equal(TxReturn.Deferred, TxReturnRule.Effective(TxReturn.Deferred, naps));
    }
}

using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

public class EventIdxTests
{
    /// <summary>
    /// vring_need_event(event, new, old) is true iff event ∈ [old, new) mod 2^16. The same
    /// formula serves both directions: calls (used_event, used idx) and kicks (avail_event,
    /// avail idx).
    /// </summary>
    [Theory]
    [InlineData(0, 1, 0, true)]        // asked at 0, moved 0 -> 1
    [InlineData(1, 1, 0, false)]       // asked at 1 (the next one), we only reached 1
    [InlineData(5, 10, 0, true)]
    [InlineData(10, 10, 0, false)]
    [InlineData(9, 10, 0, true)]
    [InlineData(0, 10, 5, false)]      // event behind old: already notified for it
    [InlineData(65535, 0, 65535, true)]   // across the wrap
    [InlineData(65534, 1, 65535, false)]
    [InlineData(0, 2, 65535, true)]       // event 0 inside [65535, 2)
    [InlineData(1, 2, 65535, true)]
    [InlineData(2, 2, 65535, false)]
    [InlineData(65535, 65535, 65535, false)] // nothing moved
    [InlineData(100, 99, 99, false)]
    [InlineData(30000, 40000, 20000, true)]
    [InlineData(50000, 40000, 20000, false)]
    public void NeedEventFollowsTheSpecIncludingTheWrap(int eventIdx, int newIdx, int oldIdx, bool expected)
    {
        Assert.Equal(expected, EventIdx.NeedEvent((ushort)eventIdx, (ushort)newIdx, (ushort)oldIdx));
    }

    [Fact]
    public void DeviceCallsOnlyWhenUsedEventIsPassed()
    {
        using var rp = new RingPair(8, eventIdx: true, start: 65532);
        ulong buf = rp.Buffer(8 * 64);
        for (int i = 0; i < 8; i++)
        {
            rp.Desc(i) = new VirtqDesc { Addr = buf + (ulong)(64 * i), Len = 64 };
        }
        // First publish after start always calls (no valid "old").
        Post(rp, 1);
        Complete(rp, 1);
        Assert.Equal(PublishResult.Call, rp.Device.Publish(true));
        Drain(rp);
        // Driver asks for a call after 2 more used elements: used_event = last_used + 1.
        Assert.False(rp.Driver.EnableInterrupts(1));
        Post(rp, 1);
        Complete(rp, 1);
        Assert.Equal(PublishResult.Suppressed, rp.Device.Publish(true));
        Post(rp, 1);
        Complete(rp, 1);
        Assert.Equal(PublishResult.Call, rp.Device.Publish(true)); // crosses 65535 -> 0 on the way
        Drain(rp);
        // Interrupts disabled (used_event moved out of reach): no call.
        rp.Driver.DisableInterrupts();
        Post(rp, 2);
        Complete(rp, 2);
        Assert.Equal(PublishResult.Suppressed, rp.Device.Publish(true));
    }

    /// <summary>
    /// A driver that armed and then woke without a call (its own timeout) and disabled calls is
    /// not called by the device's next publish, across the index's wrap too: disabling moves
    /// used_event out of reach rather than leaving it where the arming put it.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(65533)]
    public void ADriverThatArmedAndWokeOnItsOwnIsNotCalledAfterDisabling(int start)
    {
        using var rp = new RingPair(8, eventIdx: true, start: (ushort)start);
        ulong buf = rp.Buffer(8 * 64);
        for (int i = 0; i < 8; i++)
        {
            rp.Desc(i) = new VirtqDesc { Addr = buf + (ulong)(64 * i), Len = 64 };
        }
        Post(rp, 1);
        Complete(rp, 1);
        rp.Device.Publish(true); // the first publish calls (no valid "old")
        Drain(rp);
        for (int round = 0; round < 6; round++)
        {
            Assert.False(rp.Driver.EnableInterrupts()); // armed: nothing pending, it sleeps
            rp.Driver.DisableInterrupts();              // woke by its timeout, no call came
            Post(rp, 2);
            Complete(rp, 2);
            Assert.Equal(PublishResult.Suppressed, rp.Device.Publish(true));
            Drain(rp);
        }
        // Armed again, it is called.
        Assert.False(rp.Driver.EnableInterrupts());
        Post(rp, 1);
        Complete(rp, 1);
        Assert.Equal(PublishResult.Call, rp.Device.Publish(true));
    }

    [Fact]
    public void DriverKicksOnlyWhenAvailEventIsPassed()
    {
        using var rp = new RingPair(8, eventIdx: true, start: 65534);
        ulong buf = rp.Buffer(8 * 64);
        for (int i = 0; i < 8; i++)
        {
            rp.Desc(i) = new VirtqDesc { Addr = buf + (ulong)(64 * i), Len = 64 };
        }
        Assert.False(rp.Device.EnableKicks());   // avail_event = 65534: kick me on the next one
        rp.Driver.Post(0);
        Assert.True(rp.Driver.Publish());        // 65534 -> 65535 passes the event
        rp.Driver.Post(1);
        Assert.False(rp.Driver.Publish());       // device has not re-armed
        Assert.True(rp.Device.EnableKicks());    // re-arm finds work pending: must not sleep
        Assert.Equal(2, rp.Device.Available());
    }

    /// <summary>A kick batch (hybrid --hybrid-kick-batch): avail_event ahead-1 past the last
    /// buffer taken, so the ahead-th buffer kicks; at most a ring ahead.</summary>
    [Fact]
    public void KickAheadWaitsForTheBatchAcrossTheWrap()
    {
        using var rp = new RingPair(8, eventIdx: true, start: 65533);
        ulong buf = rp.Buffer(8 * 64);
        for (int i = 0; i < 8; i++)
        {
            rp.Desc(i) = new VirtqDesc { Addr = buf + (ulong)(64 * i), Len = 64 };
        }
        Assert.False(rp.Device.EnableKicks(3));
        Assert.Equal(65535, rp.Driver.ReadAvailEvent());
        rp.Driver.Post(0);
        Assert.False(rp.Driver.Publish());       // the first of three
        rp.Driver.Post(1);
        Assert.False(rp.Driver.Publish());
        rp.Driver.Post(2);
        Assert.True(rp.Driver.Publish());        // the third, 65535 -> 0
        Assert.True(rp.Device.EnableKicks(3));   // the re-check sees them: must not sleep
        Complete(rp, 3);
        rp.Device.Publish(false);
        Drain(rp);
        Assert.False(rp.Device.EnableKicks(100));
        Assert.Equal(7, rp.Driver.ReadAvailEvent()); // at most a ring ahead
        rp.Driver.Post(3);
        rp.Driver.Post(4);
        Assert.False(rp.Driver.Publish());
        Assert.True(rp.Device.EnableKicks(100)); // fewer than the batch are still work
        Assert.Equal(2, rp.Device.Available());
    }

    [Fact]
    public void WithoutEventIdxTheFlagsSuppress()
    {
        using var rp = new RingPair(8, eventIdx: false);
        ulong buf = rp.Buffer(8 * 64);
        rp.Desc(0) = new VirtqDesc { Addr = buf, Len = 64 };
        rp.Desc(1) = new VirtqDesc { Addr = buf + 64, Len = 64 };
        rp.Device.DisableKicks();
        rp.Driver.Post(0);
        Assert.False(rp.Driver.Publish());       // VRING_USED_F_NO_NOTIFY
        Assert.True(rp.Device.EnableKicks());    // and work is already there
        Complete(rp, 1);
        rp.Driver.DisableInterrupts();
        Assert.Equal(PublishResult.Suppressed, rp.Device.Publish(true)); // VRING_AVAIL_F_NO_INTERRUPT
        rp.Driver.TakeUsed();
        Assert.False(rp.Driver.EnableInterrupts());
        rp.Driver.Post(1);
        Assert.True(rp.Driver.Publish());
        Complete(rp, 1);
        Assert.Equal(PublishResult.Call, rp.Device.Publish(true));
    }

    private static int s_next;

    private static void Post(RingPair rp, int n)
    {
        for (int i = 0; i < n; i++)
        {
            rp.Driver.Post((ushort)(s_next++ % 8));
        }
        rp.Driver.PublishNoKick();
    }

    private static void Complete(RingPair rp, int n)
    {
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
            rp.Device.PushUsed(rp.Chain.Id, 0);
        }
    }

    private static void Drain(RingPair rp)
    {
        while (rp.Driver.UsedAvailable() > 0)
        {
            rp.Driver.TakeUsed();
        }
    }
}

using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

/// <summary>Event suppression on packed rings, both directions, with and without EVENT_IDX.</summary>
public unsafe class PackedNotificationTests
{
    /// <summary>
    /// The DESC decision: unwrap old (a lap back if the move crossed the end) and the event (a
    /// lap back if its wrap bit is not the current lap's), then event ∈ [old, new) mod 2^16.
    /// Ring size 8 throughout.
    /// </summary>
    [Theory]
    [InlineData(2, true, 3, 2, true, true)]    // moved 2 -> 3, asked at 2
    [InlineData(3, true, 3, 2, true, false)]   // asked at 3: not reached
    [InlineData(1, true, 3, 2, true, false)]   // asked at 1: already passed before old
    [InlineData(7, true, 2, 6, false, true)]   // moved 6 -> 2 across the wrap (lap 1 -> 0), asked at 7 of lap 1
    [InlineData(1, false, 2, 6, false, true)]  // asked at 1 of lap 0
    [InlineData(2, false, 2, 6, false, false)] // asked at 2 of lap 0: not reached
    [InlineData(5, true, 2, 6, false, false)]  // asked at 5 of lap 1: before old
    [InlineData(6, true, 2, 6, false, true)]   // asked at old itself
    [InlineData(4, false, 4, 4, true, true)]   // a whole lap (new == old, wrap flipped) passes old itself
    [InlineData(3, true, 4, 4, true, true)]    // ...and everything up to new
    [InlineData(4, true, 4, 4, true, false)]   // ...but not new
    [InlineData(0, true, 0, 7, true, false)]   // wrap bit of an event a lap ahead: not passed
    public void DescDecisionUnwrapsTheRingOffsets(int off, bool offWrap, int newOff, int oldOff, bool wrap, bool expected)
    {
        uint image = PackedEventSuppress.Pack(PackedEventSuppress.FlagsDesc, (ushort)off, offWrap);
        Assert.Equal(expected, PackedEventSuppress.NeedEvent(image, (ushort)newOff, (ushort)oldOff, wrap, 8));
    }

    [Fact]
    public void KicksFollowEnableAndDisableWithoutEventIdx()
    {
        using var rp = new PackedRingPair(8);
        ulong buf = rp.Buffer(64);
        rp.Driver.Post(0, buf, 64, false);
        Assert.True(rp.Driver.Publish());            // a zeroed device area is ENABLE
        rp.Device.DisableKicks();
        Assert.Equal(PackedEventSuppress.Pack(PackedEventSuppress.FlagsDisable), rp.Driver.ReadDeviceEvent());
        rp.Driver.Post(1, buf, 64, false);
        Assert.False(rp.Driver.Publish());
        Assert.False(rp.Driver.Publish());           // nothing new: no kick either
        Assert.True(rp.Device.EnableKicks());        // work is already there: must not sleep
        Assert.Equal(PackedEventSuppress.Pack(PackedEventSuppress.FlagsEnable), rp.Driver.ReadDeviceEvent());
        TakeAll(rp);
        Assert.False(rp.Device.EnableKicks());
        rp.Driver.Post(2, buf, 64, false);
        Assert.True(rp.Driver.Publish());
    }

    [Fact]
    public void KicksWithEventIdxFollowTheDescriptorAcrossTheWrap()
    {
        using var rp = new PackedRingPair(8, eventIdx: true);
        ulong buf = rp.Buffer(64);
        Advance(rp, 6);
        Assert.False(rp.Device.EnableKicks());
        Assert.Equal(PackedEventSuppress.Pack(PackedEventSuppress.FlagsDesc, 6, true), rp.Driver.ReadDeviceEvent());
        rp.Driver.Post(0, buf, 64, false);
        Assert.True(rp.Driver.Publish());            // slot 6 made available
        rp.Driver.Post(1, buf, 64, false);
        Assert.False(rp.Driver.Publish());           // slot 7: the device has not re-armed
        rp.Driver.Post(2, buf, 64, false);
        rp.Driver.Post(3, buf, 64, false);
        Assert.False(rp.Driver.Publish());           // slots 0, 1 of the next lap: 6 of lap 1 is behind
        Assert.True(rp.Device.EnableKicks());        // re-arm at 6 finds work
        TakeAll(rp);
        Assert.False(rp.Device.EnableKicks());
        Assert.Equal(PackedEventSuppress.Pack(PackedEventSuppress.FlagsDesc, 2, false), rp.Driver.ReadDeviceEvent());
        rp.Driver.Post(4, buf, 64, false);
        Assert.True(rp.Driver.Publish());
        TakeAll(rp);

        // Posting across the wrap (slots 3..7 with wrap 0, then 0, 1 with wrap 1) passes slot 1 of the wrap-1 lap.
        Assert.Equal(3, rp.Device.NextAvail);
        Assert.False(rp.Device.AvailWrap);
        *(uint*)rp.Ram.Host(rp.DeviceEventGpa) = PackedEventSuppress.Pack(PackedEventSuppress.FlagsDesc, 1, true);
        for (ushort i = 0; i < 7; i++)
        {
            rp.Driver.Post(i, buf, 64, false);
        }
        Assert.True(rp.Driver.Publish());
        TakeAll(rp);
        // Slots 2..7, 0 (wrap 1 -> 0) do not pass slot 1 of the wrap-1 lap: it is behind slot 2.
        for (ushort i = 0; i < 7; i++)
        {
            rp.Driver.Post(i, buf, 64, false);
        }
        *(uint*)rp.Ram.Host(rp.DeviceEventGpa) = PackedEventSuppress.Pack(PackedEventSuppress.FlagsDesc, 1, true);
        Assert.False(rp.Driver.Publish());
        TakeAll(rp);
        rp.Driver.Post(0, buf, 64, false);       // slot 1 (wrap 0) does not reach slot 2 (wrap 0)
        *(uint*)rp.Ram.Host(rp.DeviceEventGpa) = PackedEventSuppress.Pack(PackedEventSuppress.FlagsDesc, 2, false);
        Assert.False(rp.Driver.Publish());
        // DISABLE suppresses with EVENT_IDX too.
        TakeAll(rp);
        rp.Device.DisableKicks();
        rp.Driver.Post(0, buf, 64, false);
        Assert.False(rp.Driver.Publish());
    }

    /// <summary>A kick batch: the event ahead-1 slots past the next one, in the next lap when
    /// it passes the ring's end; at most a ring ahead.</summary>
    [Fact]
    public void KickAheadWaitsForTheBatchAcrossTheWrap()
    {
        using var rp = new PackedRingPair(8, eventIdx: true);
        ulong buf = rp.Buffer(64);
        Advance(rp, 6);
        Assert.False(rp.Device.EnableKicks(4));      // slots 6, 7, then 0 and 1 of the next lap
        Assert.Equal(PackedEventSuppress.Pack(PackedEventSuppress.FlagsDesc, 1, false), rp.Driver.ReadDeviceEvent());
        rp.Driver.Post(0, buf, 64, false);
        Assert.False(rp.Driver.Publish());           // slot 6
        rp.Driver.Post(1, buf, 64, false);
        rp.Driver.Post(2, buf, 64, false);
        Assert.False(rp.Driver.Publish());           // slots 7, 0: across the wrap, not there yet
        rp.Driver.Post(3, buf, 64, false);
        Assert.True(rp.Driver.Publish());            // slot 1: the fourth
        Assert.True(rp.Device.EnableKicks(4));       // the re-check sees them: must not sleep
        TakeAll(rp);
        Reclaim(rp);
        Assert.False(rp.Device.EnableKicks(100));    // at most a ring: slot 1 of the lap after
        Assert.Equal(PackedEventSuppress.Pack(PackedEventSuppress.FlagsDesc, 1, true), rp.Driver.ReadDeviceEvent());
        rp.Driver.Post(0, buf, 64, false);
        Assert.False(rp.Driver.Publish());
        Assert.True(rp.Device.EnableKicks(100));     // fewer than the batch are still work
    }

    [Fact]
    public void CallsFollowEnableAndDisableWithoutEventIdx()
    {
        using var rp = new PackedRingPair(8);
        ulong buf = rp.Buffer(64);
        PostTake(rp, buf, 1);
        Assert.Equal(PublishResult.Call, rp.Device.Publish(true)); // a zeroed driver area is ENABLE
        rp.Driver.DisableInterrupts();
        PostTake(rp, buf, 1);
        Assert.Equal(PublishResult.Suppressed, rp.Device.Publish(true));
        Assert.True(rp.Driver.EnableInterrupts());   // used descriptors already there: must not sleep
        Reclaim(rp);
        Assert.False(rp.Driver.EnableInterrupts());
        PostTake(rp, buf, 1);
        Assert.Equal(PublishResult.Call, rp.Device.Publish(true));
        PostTake(rp, buf, 1);
        Assert.Equal(PublishResult.Suppressed, rp.Device.Publish(false)); // no call fd
    }

    [Fact]
    public void CallsWithEventIdxFollowTheDescriptorAcrossTheWrap()
    {
        using var rp = new PackedRingPair(8, eventIdx: true);
        ulong buf = rp.Buffer(64);
        PostTake(rp, buf, 1);
        Assert.Equal(PublishResult.Call, rp.Device.Publish(true)); // a zeroed driver area is ENABLE
        Reclaim(rp);
        Advance(rp, 4);                                             // to slot 5, publishing with no call fd
        // Ask for a call when slot 7 (two past the next used) is used.
        Assert.False(rp.Driver.EnableInterrupts(afterSlots: 2));
        Assert.Equal(PackedEventSuppress.Pack(PackedEventSuppress.FlagsDesc, 7, true), rp.Driver.ReadDriverEvent());
        PostTake(rp, buf, 1);                                       // slot 5: no valid old after publishes without a call fd
        Assert.Equal(PublishResult.Call, rp.Device.Publish(true));
        PostTake(rp, buf, 1);                                       // slot 6
        Assert.Equal(PublishResult.Suppressed, rp.Device.Publish(true));
        PostTake(rp, buf, 2);                                       // slots 7, 0: crosses the wrap
        Assert.Equal(PublishResult.Call, rp.Device.Publish(true));
        Reclaim(rp);
        // An event in the new lap: slot 2 of lap 0, reached by a chain of 3 over slots 1..3.
        Assert.False(rp.Driver.EnableInterrupts(afterSlots: 1));
        Assert.Equal(PackedEventSuppress.Pack(PackedEventSuppress.FlagsDesc, 2, false), rp.Driver.ReadDriverEvent());
        rp.Driver.PostChain(0, [new() { Addr = buf, Len = 1 }, new() { Addr = buf, Len = 1 }, new() { Addr = buf, Len = 1 }]);
        rp.Driver.PublishNoKick();
        TakeAll(rp, publish: false);
        Assert.Equal(PublishResult.Call, rp.Device.Publish(true));
        Reclaim(rp);
        // DISABLE and ENABLE work with EVENT_IDX too.
        rp.Driver.DisableInterrupts();
        PostTake(rp, buf, 1);
        Assert.Equal(PublishResult.Suppressed, rp.Device.Publish(true));
        Reclaim(rp);
        *(uint*)rp.Ram.Host(rp.DriverEventGpa) = PackedEventSuppress.Pack(PackedEventSuppress.FlagsEnable);
        PostTake(rp, buf, 1);
        Assert.Equal(PublishResult.Call, rp.Device.Publish(true));
        Reclaim(rp);
        // DESC at the next used slot calls once; the event then lies behind: no call.
        *(uint*)rp.Ram.Host(rp.DriverEventGpa) = PackedEventSuppress.Pack(PackedEventSuppress.FlagsDesc, rp.Driver.NextUsed, rp.Driver.UsedWrap);
        PostTake(rp, buf, 1);
        Assert.Equal(PublishResult.Call, rp.Device.Publish(true));
        PostTake(rp, buf, 1);
        Assert.Equal(PublishResult.Suppressed, rp.Device.Publish(true));
    }

    [Fact]
    public void EnableInterruptsReChecksAfterArming()
    {
        using var rp = new PackedRingPair(4, eventIdx: true);
        ulong buf = rp.Buffer(64);
        rp.Driver.DisableInterrupts();
        PostTake(rp, buf, 1);
        rp.Device.Publish(true);
        Assert.True(rp.Driver.HasUsed());
        Assert.True(rp.Driver.EnableInterrupts());
        Reclaim(rp);
        Assert.False(rp.Driver.EnableInterrupts());
    }

    /// <summary>Moves both sides forward by <paramref name="n"/> single buffers, without call decisions.</summary>
    private static void Advance(PackedRingPair rp, int n)
    {
        ulong buf = rp.Buffer(64);
        for (int i = 0; i < n; i++)
        {
            rp.Driver.Post(0, buf, 64, false);
            rp.Driver.PublishNoKick();
            TakeAll(rp, publish: false);
            rp.Device.Publish(false);
            Reclaim(rp);
        }
    }

    private static void PostTake(PackedRingPair rp, ulong buf, int n)
    {
        for (int i = 0; i < n; i++)
        {
            Assert.True(rp.Driver.Post((ushort)(rp.Driver.NextAvail % rp.Size), buf, 64, false));
        }
        rp.Driver.PublishNoKick();
        TakeAll(rp, publish: false);
    }

    private static void TakeAll(PackedRingPair rp, bool publish = true)
    {
        while (rp.Device.TryPop(rp.Memory, ref rp.Chain, false) == PopStatus.Ok)
        {
            rp.Device.PushUsed(rp.Chain.Id, 0, rp.Chain.SlotCount);
        }
        Assert.Equal(RingFault.None, rp.Device.Fault);
        if (publish)
        {
            rp.Device.Publish(false);
            Reclaim(rp);
        }
    }

    private static void Reclaim(PackedRingPair rp)
    {
        while (rp.Driver.TryTakeUsed(out _, out _))
        {
        }
        Assert.False(rp.Driver.DeviceFault);
    }
}

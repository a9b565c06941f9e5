using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

/// <summary>
/// The packed ring's batched used writes (docs/envelope.md#packed-rings-batched-used-writes): a
/// burst's used descriptors are written before its first one's flags, which publish the batch,
/// so a driver never sees a later descriptor used before the first; the wrap counter flips
/// mid-batch at the ring's end; with IN_ORDER a burst returned with nothing written is one used
/// descriptor in the batch's first slot. At queue 256, 1024 and the maximum, 32768.
/// </summary>
public unsafe class PackedBatchTests
{
    private const int Burst = 32;
    private const int BeforeEnd = 10; // the batch starts this many slots before the ring's end

    [Theory]
    [InlineData(256, false)]
    [InlineData(256, true)]
    [InlineData(1024, false)]
    [InlineData(1024, true)]
    [InlineData(32768, false)]
    [InlineData(32768, true)]
    public void BatchIsInvisibleUntilItsFirstFlagsAndFlipsTheWrapAtTheEnd(int size, bool deviceWrites)
    {
        using var rp = new PackedRingPair((ushort)size, ramBytes: 8 << 20);
        ulong buf = rp.Buffer(Burst * 64);
        AdvanceTo(rp, size - BeforeEnd, buf, inOrder: false);
        int p = rp.Driver.NextAvail;
        bool wrap = rp.Driver.UsedWrap;
        var burst = new BufRef[Burst];
        PostBurst(rp, buf, deviceWrites, inOrder: false);
        Assert.Equal(Burst, rp.Device.TakeSingles(rp.Memory, burst, deviceWrites));
        for (int k = 0; k < Burst; k++)
        {
            burst[k].Len = deviceWrites ? (uint)(10 + k) : 0;
        }
        rp.Device.PushUsedBurst(burst);

        // The whole batch but the first descriptor's flags is written; the driver sees none of it.
        Assert.False(rp.Driver.HasUsed());
        Assert.False(rp.Driver.TryTakeUsed(out _, out _));
        Assert.NotEqual(PackedDesc.UsedBits(wrap), rp.Desc(p).Flags & PackedDesc.WrapMask);
        Assert.Equal(Burst, rp.Driver.InFlight);
        for (int k = 1; k < Burst; k++)
        {
            ref PackedDesc d = ref rp.Desc((p + k) % size);
            bool slotWrap = k < BeforeEnd ? wrap : !wrap; // the counter flips at the ring's end
            Assert.Equal(PackedDesc.UsedBits(slotWrap), d.Flags & PackedDesc.WrapMask);
            Assert.Equal((ushort)k, d.Id);
            Assert.Equal(deviceWrites ? (uint)(10 + k) : 0, d.Len);
            Assert.Equal(deviceWrites, (d.Flags & PackedDesc.FlagWrite) != 0);
        }

        Assert.Equal(PublishResult.Call, rp.Device.Publish(canCall: true));
        for (int k = 0; k < Burst; k++)
        {
            Assert.True(rp.Driver.TryTakeUsed(out ushort id, out uint len));
            Assert.Equal((ushort)k, id);
            Assert.Equal(deviceWrites ? (uint)(10 + k) : 0, len);
        }
        Assert.False(rp.Driver.HasUsed());
        Assert.Equal(0, rp.Driver.InFlight);
        Assert.Equal((p + Burst) % size, rp.Driver.NextUsed);
        Assert.Equal(!wrap, rp.Driver.UsedWrap);
        Assert.Equal(rp.Driver.NextUsed, rp.Device.NextUsed);
    }

    [Theory]
    [InlineData(256)]
    [InlineData(1024)]
    [InlineData(32768)]
    public void InOrderBurstIsOneUsedDescriptorInItsFirstSlotAcrossTheWrap(int size)
    {
        using var rp = new PackedRingPair((ushort)size, ramBytes: 8 << 20, inOrder: true);
        Assert.True(rp.Device.InOrder);
        ulong buf = rp.Buffer(Burst * 64);
        AdvanceTo(rp, size - BeforeEnd, buf, inOrder: true);
        int p = rp.Driver.NextAvail;
        bool wrap = rp.Driver.UsedWrap;
        var burst = new BufRef[Burst];
        PostBurst(rp, buf, deviceWrites: false, inOrder: true);
        var before = new ushort[Burst];
        for (int k = 0; k < Burst; k++)
        {
            before[k] = rp.Desc((p + k) % size).Flags;
        }
        Assert.Equal(Burst, rp.Device.TakeSingles(rp.Memory, burst, deviceWrites: false));
        rp.Device.PushUsedBurstEmpty(burst);

        // One descriptor, not yet published; the other slots keep the driver's flags.
        Assert.False(rp.Driver.HasUsed());
        for (int k = 0; k < Burst; k++)
        {
            Assert.Equal(before[k], rp.Desc((p + k) % size).Flags);
        }
        Assert.Equal(PublishResult.Call, rp.Device.Publish(canCall: true));
        ref PackedDesc first = ref rp.Desc(p);
        Assert.Equal(PackedDesc.UsedBits(wrap), first.Flags & PackedDesc.WrapMask);
        Assert.Equal((ushort)((p + Burst - 1) % size), first.Id); // the last buffer's id: its head slot
        Assert.Equal(0u, first.Len);
        for (int k = 1; k < Burst; k++)
        {
            Assert.Equal(before[k], rp.Desc((p + k) % size).Flags);
        }

        Assert.Equal(Burst, rp.Driver.TakeUsedInOrder(Burst, out bool fault));
        Assert.False(fault);
        Assert.Equal(0, rp.Driver.InFlight);
        Assert.Equal((p + Burst) % size, rp.Driver.NextUsed);
        Assert.Equal(!wrap, rp.Driver.UsedWrap);
        Assert.Equal(rp.Driver.NextUsed, rp.Device.NextUsed);
        Assert.Equal(rp.Driver.UsedWrap, rp.Device.UsedWrap);

        // Laps of uneven bursts go on returning every buffer exactly once.
        var rng = new Random(size);
        for (int lap = 0; lap < 3 * size / Burst; lap++)
        {
            int n = rng.Next(1, Burst + 1);
            for (int k = 0; k < n; k++)
            {
                Assert.True(rp.Driver.Post(rp.Driver.NextAvail, buf + (ulong)(64 * k), 64, deviceWrites: false));
            }
            rp.Driver.Publish();
            Assert.Equal(n, rp.Device.TakeSingles(rp.Memory, burst.AsSpan(0, n), deviceWrites: false));
            rp.Device.PushUsedBurstEmpty(burst.AsSpan(0, n));
            rp.Device.Publish(canCall: true);
            Assert.Equal(n, rp.Driver.TakeUsedInOrder(Burst, out fault));
            Assert.False(fault);
            Assert.Equal(0, rp.Driver.InFlight);
        }
        Assert.Equal(RingFault.None, rp.Device.Fault);
    }

    [Fact]
    public void InOrderSinglePushesJoinTheBatchUntilALengthOrAPublishClosesIt()
    {
        using var rp = new PackedRingPair(8, inOrder: true);
        ulong buf = rp.Buffer(8 * 64);
        for (ushort id = 0; id < 5; id++)
        {
            Assert.True(rp.Driver.Post(id, buf + 64UL * id, 64, deviceWrites: false));
        }
        rp.Driver.Publish();
        var chains = new (ushort Id, ushort Slots)[5];
        for (int k = 0; k < 5; k++)
        {
            Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, deviceWrites: false));
            chains[k] = (rp.Chain.Id, rp.Chain.SlotCount);
        }
        rp.Device.PushUsed(chains[0].Id, 0, chains[0].Slots);
        rp.Device.PushUsed(chains[1].Id, 0, chains[1].Slots); // joins slot 0's batch
        rp.Device.PushUsed(chains[2].Id, 7, chains[2].Slots); // a length: its own descriptor, closes the batch
        rp.Device.PushUsed(chains[3].Id, 0, chains[3].Slots); // a new batch at slot 3
        rp.Device.PushUsed(chains[4].Id, 0, chains[4].Slots);
        Assert.Equal(5, rp.Device.PendingUsed);
        Assert.False(rp.Driver.HasUsed());
        rp.Device.Publish(canCall: true);
        Assert.Equal((ushort)1, rp.Desc(0).Id);
        Assert.Equal((ushort)2, rp.Desc(2).Id);
        Assert.Equal(7u, rp.Desc(2).Len);
        Assert.Equal((ushort)4, rp.Desc(3).Id);

        Assert.Equal(2, rp.Driver.TakeUsedInOrder(8, out bool fault));
        Assert.False(fault);
        Assert.Equal(1, rp.Driver.TakeUsedInOrder(8, out fault));
        Assert.Equal(2, rp.Driver.TakeUsedInOrder(8, out fault));
        Assert.False(fault);
        Assert.Equal(0, rp.Driver.TakeUsedInOrder(8, out fault));

        // The publish closed the batch: the next empty push writes a new descriptor at slot 5 and
        // leaves the published one (slot 3, id 4) as the driver read it.
        Assert.True(rp.Driver.Post(5, buf, 64, deviceWrites: false));
        rp.Driver.Publish();
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, deviceWrites: false));
        rp.Device.PushUsed(rp.Chain.Id, 0, rp.Chain.SlotCount);
        rp.Device.Publish(canCall: true);
        Assert.Equal((ushort)4, rp.Desc(3).Id);
        Assert.Equal((ushort)5, rp.Desc(5).Id);
        Assert.Equal(1, rp.Driver.TakeUsedInOrder(8, out fault));
        Assert.False(fault);
    }

    [Fact]
    public void InOrderDriverFaultsOnABatchNamingAnIdNotInFlight()
    {
        using var rp = new PackedRingPair(8, inOrder: true);
        ulong buf = rp.Buffer(64);
        Assert.True(rp.Driver.Post(0, buf, 64, deviceWrites: false));
        rp.Driver.Publish();
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, deviceWrites: false));
        rp.Device.PushUsed(6, 0, 1); // a device naming slot 6: the walk meets slot 1, not in flight
        rp.Device.Publish(canCall: true);
        Assert.Equal(1, rp.Driver.TakeUsedInOrder(8, out bool fault));
        Assert.True(fault);
        Assert.True(rp.Driver.DeviceFault);
    }

    /// <summary>The new paths allocate nothing: the batched write with lengths, the prefetching
    /// burst take, IN_ORDER pushes (burst and single) and the driver's in-order reclaim.</summary>
    [Fact]
    public void BatchedAndInOrderPathsAllocateNothing()
    {
        using var plain = new PackedRingPair(1024);
        using var inOrder = new PackedRingPair(1024, inOrder: true);
        var burst = new BufRef[Burst];
        ulong buf = plain.Buffer(Burst * 64);
        ulong buf2 = inOrder.Buffer(Burst * 64);
        AllocationProbe.AssertNone(n => Iterate(plain, inOrder, burst, buf, buf2, n), 5_000, 20_000);
    }

    private static int Iterate(PackedRingPair plain, PackedRingPair inOrder, BufRef[] burst, ulong buf, ulong buf2, int n)
    {
        int errors = 0;
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < burst.Length; k++)
            {
                plain.Driver.Post((ushort)k, buf + (ulong)(64 * k), 64, deviceWrites: true);
            }
            plain.Driver.Publish();
            int got = plain.Device.TakeSingles(plain.Memory, burst, deviceWrites: true);
            errors += got == burst.Length ? 0 : 1;
            plain.Device.PushUsedBurst(burst.AsSpan(0, got));
            plain.Device.Publish(canCall: true);
            while (plain.Driver.TryTakeUsed(out _, out _))
            {
            }
            errors += plain.Driver.InFlight == 0 ? 0 : 1;

            for (int k = 0; k < burst.Length; k++)
            {
                inOrder.Driver.Post(inOrder.Driver.NextAvail, buf2 + (ulong)(64 * k), 64, deviceWrites: false);
            }
            inOrder.Driver.Publish();
            got = inOrder.Device.TakeSingles(inOrder.Memory, burst.AsSpan(0, burst.Length - 2), deviceWrites: false);
            inOrder.Device.PushUsedBurstEmpty(burst.AsSpan(0, got));
            while (inOrder.Device.TryPop(inOrder.Memory, ref inOrder.Chain, deviceWrites: false) == PopStatus.Ok)
            {
                inOrder.Device.PushUsed(inOrder.Chain.Id, 0, inOrder.Chain.SlotCount);
            }
            inOrder.Device.Publish(canCall: true);
            errors += inOrder.Driver.TakeUsedInOrder(burst.Length, out bool fault) == burst.Length && !fault ? 0 : 1;
            errors += inOrder.Driver.InFlight == 0 && inOrder.Device.Fault == RingFault.None ? 0 : 1;
        }
        return errors;
    }

    /// <summary>Moves both sides to ring position <paramref name="target"/> (first lap) with
    /// bursts taken, returned and reclaimed.</summary>
    private static void AdvanceTo(PackedRingPair rp, int target, ulong buf, bool inOrder)
    {
        var burst = new BufRef[Burst];
        while (rp.Driver.NextAvail < target)
        {
            int n = Math.Min(Burst, target - rp.Driver.NextAvail);
            for (int k = 0; k < n; k++)
            {
                ushort id = inOrder ? rp.Driver.NextAvail : (ushort)k;
                Assert.True(rp.Driver.Post(id, buf + (ulong)(64 * k), 64, deviceWrites: false));
            }
            rp.Driver.Publish();
            Assert.Equal(n, rp.Device.TakeSingles(rp.Memory, burst.AsSpan(0, n), deviceWrites: false));
            rp.Device.PushUsedBurstEmpty(burst.AsSpan(0, n));
            rp.Device.Publish(canCall: true);
            if (inOrder)
            {
                Assert.Equal(n, rp.Driver.TakeUsedInOrder(Burst, out bool fault));
                Assert.False(fault);
            }
            else
            {
                while (rp.Driver.TryTakeUsed(out _, out _))
                {
                }
            }
        }
        Assert.Equal(0, rp.Driver.InFlight);
        Assert.Equal(target, rp.Device.NextUsed);
    }

    /// <summary>Posts a burst from the driver's next slot: ids 0.. (or each buffer's head slot
    /// with IN_ORDER), one publish.</summary>
    private static void PostBurst(PackedRingPair rp, ulong buf, bool deviceWrites, bool inOrder)
    {
        for (int k = 0; k < Burst; k++)
        {
            ushort id = inOrder ? rp.Driver.NextAvail : (ushort)k;
            Assert.True(rp.Driver.Post(id, buf + (ulong)(64 * k), 64, deviceWrites));
        }
        rp.Driver.Publish();
    }
}

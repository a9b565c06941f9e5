using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

/// <summary>
/// The driver side's bound posts and whole-run reclaim (docs/envelope.md, "The load
/// generator's packed driver"): a bound id is posted as the descriptor it was bound to, in one
/// store, invisible until the batch's first flags; an IN_ORDER run of single-slot buffers is
/// taken from its last descriptor alone, and with a chain in flight the walk still counts slots.
/// </summary>
public unsafe class PackedDriverRingTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BoundPostsWriteTheBoundDescriptorOnlyVisibleAtPublish(bool deviceWrites)
    {
        using var rp = new PackedRingPair(8);
        ulong buf = rp.Buffer(8 * 64);
        ushort write = deviceWrites ? PackedDesc.FlagWrite : (ushort)0;
        for (ushort id = 0; id < 8; id++)
        {
            rp.Driver.Bind(id, buf + 64UL * id, 60, (ushort)(write | PackedDesc.FlagNext)); // NEXT is not kept
        }
        ushort firstFlagsBefore = rp.Desc(0).Flags;
        Assert.True(rp.Driver.PostBound(5));
        Assert.True(rp.Driver.PostBound(2));
        Assert.False(rp.Driver.PostBound(5)); // in flight
        Assert.False(rp.Driver.PostBound(8)); // out of range
        Assert.True(rp.Driver.IsInFlight(5));
        Assert.Equal(2, rp.Driver.InFlight);

        // Both descriptors written, the first one's flags held back: the device sees nothing.
        Assert.Equal(buf + 5 * 64, rp.Desc(0).Addr);
        Assert.Equal((ushort)5, rp.Desc(0).Id);
        Assert.Equal(firstFlagsBefore, rp.Desc(0).Flags);
        Assert.Equal(buf + 2 * 64, rp.Desc(1).Addr);
        Assert.Equal(60u, rp.Desc(1).Len);
        Assert.Equal((ushort)(write | PackedDesc.AvailBits(true)), rp.Desc(1).Flags);
        Assert.Equal(0, rp.Device.Available());

        rp.Driver.Publish();
        Assert.Equal((ushort)(write | PackedDesc.AvailBits(true)), rp.Desc(0).Flags);
        var got = new BufRef[2];
        Assert.Equal(2, rp.Device.TakeSingles(rp.Memory, got, deviceWrites));
        Assert.Equal((ushort)5, got[0].Id);
        Assert.Equal(buf + 5 * 64, got[0].Gpa);
        Assert.Equal((ushort)2, got[1].Id);
        Assert.Equal(60u, got[1].Len);

        rp.Device.PushUsed(5, 0, 1);
        rp.Device.PushUsed(2, 0, 1);
        rp.Device.Publish(canCall: true);
        Assert.True(rp.Driver.TryTakeUsed(out ushort a, out _));
        Assert.True(rp.Driver.TryTakeUsed(out ushort b, out _));
        Assert.Equal((5, 2), (a, b));
        Assert.False(rp.Driver.IsInFlight(5));
        Assert.True(rp.Driver.PostBound(5)); // free again
        Assert.Equal(RingFault.None, rp.Device.Fault);
    }

    [Fact]
    public void BoundPostsStopAtAFullRing()
    {
        using var rp = new PackedRingPair(4);
        ulong buf = rp.Buffer(4 * 64);
        Assert.True(rp.Driver.Post(0, buf, 64, deviceWrites: false));
        for (ushort id = 1; id < 4; id++)
        {
            rp.Driver.Bind(id, buf + 64UL * id, 64, 0);
            Assert.True(rp.Driver.PostBound(id));
        }
        rp.Driver.Bind(0, buf, 64, 0);
        Assert.Equal(0, rp.Driver.FreeSlots);
        Assert.False(rp.Driver.PostBound(0));
    }

    [Theory]
    [InlineData(8)]
    [InlineData(256)]
    [InlineData(1024)]
    public void InOrderRunsAreTakenWholeAcrossTheEndAndWalkedWithAChainInFlight(int size)
    {
        using var rp = new PackedRingPair((ushort)size, inOrder: true);
        ulong buf = rp.Buffer(4 * 64);
        PackedDesc[] chain = [new() { Addr = buf, Len = 32 }, new() { Addr = buf + 32, Len = 32 }];

        // A chain (two slots) then two singles, returned as one run naming the last id: walked.
        Assert.True(rp.Driver.PostChain(rp.Driver.NextAvail, chain));
        Assert.True(rp.Driver.Post(rp.Driver.NextAvail, buf + 64, 64, deviceWrites: false));
        Assert.True(rp.Driver.Post(rp.Driver.NextAvail, buf + 128, 64, deviceWrites: false));
        rp.Driver.Publish();
        ReturnAll(rp, 3);
        Assert.Equal(3, rp.Driver.TakeUsedInOrder(8, out bool fault));
        Assert.False(fault);
        Assert.Equal(4, rp.Driver.NextUsed);
        Assert.Equal(0, rp.Driver.InFlight);

        // Singles only, bound and posted at their slots, across the ring's end: one read.
        int laps = 0;
        for (int round = 0; round < 2 * size / 6 + 2; round++)
        {
            bool wrapBefore = rp.Driver.UsedWrap;
            int before = rp.Driver.NextUsed;
            for (int k = 0; k < 6; k++)
            {
                ushort id = rp.Driver.NextAvail;
                rp.Driver.Bind(id, buf + 64UL * (ulong)(k & 3), 64, 0);
                Assert.True(rp.Driver.PostBound(id));
            }
            rp.Driver.Publish();
            ReturnAll(rp, 6);
            Assert.Equal(6, rp.Driver.TakeUsedInOrder(8, out fault));
            Assert.False(fault);
            Assert.Equal(0, rp.Driver.InFlight);
            Assert.Equal((before + 6) % size, rp.Driver.NextUsed);
            if (before + 6 >= size)
            {
                Assert.NotEqual(wrapBefore, rp.Driver.UsedWrap);
                laps++;
            }
            Assert.Equal(rp.Device.NextUsed, rp.Driver.NextUsed);
            Assert.Equal(rp.Device.UsedWrap, rp.Driver.UsedWrap);
        }
        Assert.True(laps >= 2);
        Assert.Equal(RingFault.None, rp.Device.Fault);
        Assert.False(rp.Driver.DeviceFault);
    }

    [Fact]
    public void InOrderRunLongerThanTheMaximumFaults()
    {
        using var rp = new PackedRingPair(8, inOrder: true);
        ulong buf = rp.Buffer(64);
        for (int k = 0; k < 4; k++)
        {
            Assert.True(rp.Driver.Post(rp.Driver.NextAvail, buf, 64, deviceWrites: false));
        }
        rp.Driver.Publish();
        ReturnAll(rp, 4);
        Assert.Equal(2, rp.Driver.TakeUsedInOrder(2, out bool fault));
        Assert.True(fault);
        Assert.True(rp.Driver.DeviceFault);
    }

    /// <summary>The device pops <paramref name="n"/> buffers and returns them with nothing
    /// written (IN_ORDER: one used descriptor naming the last).</summary>
    private static void ReturnAll(PackedRingPair rp, int n)
    {
        for (int k = 0; k < n; k++)
        {
            Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, deviceWrites: false));
            rp.Device.PushUsed(rp.Chain.Id, 0, rp.Chain.SlotCount);
        }
        rp.Device.Publish(canCall: true);
    }
}

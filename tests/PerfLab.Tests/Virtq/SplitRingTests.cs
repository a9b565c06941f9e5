using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

public class SplitRingTests
{
    [Theory]
    [InlineData(65530, 8)]
    [InlineData(65535, 4)]
    [InlineData(0, 256)]
    public void IndicesWrapFrom65535ToZeroWithoutLosingOrDuplicatingBuffers(int start, int size)
    {
        using var rp = new RingPair((ushort)size, start: (ushort)start);
        ulong buf = rp.Buffer(64 * size, 0xAB);
        for (int i = 0; i < size; i++)
        {
            ref var d = ref rp.Desc(i);
            d.Addr = buf + (ulong)(64 * i);
            d.Len = (uint)(10 + i);
        }
        var rng = new Random(42);
        int expectedHead = 0;
        int posted = 0, consumed = 0;
        ushort nextPost = 0;
        // Push enough rounds through the ring to cross the 16-bit wrap at least once.
        for (int round = 0; round < 40; round++)
        {
            int k = rng.Next(1, size + 1 - rp.Driver.InFlight);
            for (int j = 0; j < k; j++)
            {
                rp.Driver.Post(nextPost);
                nextPost = (ushort)((nextPost + 1) % size);
            }
            posted += k;
            rp.Driver.PublishNoKick();
            Assert.Equal(k, rp.Device.Available());
            for (int j = 0; j < k; j++)
            {
                Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, deviceWrites: false));
                Assert.Equal(expectedHead, rp.Chain.Id);
                Assert.Equal(1, rp.Chain.Count);
                Assert.Equal((uint)(10 + expectedHead), rp.Chain.TotalLen);
                Assert.Equal(0xAB, rp.Chain.SegmentSpan(0)[0]);
                rp.Device.PushUsed(rp.Chain.Id, (uint)j);
                expectedHead = (expectedHead + 1) % size;
            }
            Assert.Equal(PopStatus.Empty, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
            rp.Device.Publish(canCall: false);
            Assert.Equal(k, rp.Driver.UsedAvailable());
            for (int j = 0; j < k; j++)
            {
                var e = rp.Driver.TakeUsed();
                Assert.Equal((uint)j, e.Len);
                consumed++;
            }
        }
        Assert.Equal(posted, consumed);
        Assert.Equal((ushort)(start + posted), rp.Device.LastAvail);
        Assert.Equal((ushort)(start + posted), rp.Driver.ReadUsedIdx());
        if (start > 0)
        {
            Assert.True(start + posted > 65536, "the test must cross the 16-bit wrap");
        }
    }

    [Fact]
    public void UsedIndexIsPublishedOncePerBatchNotPerElement()
    {
        using var rp = new RingPair(16);
        ulong buf = rp.Buffer(16 * 64);
        for (int i = 0; i < 8; i++)
        {
            rp.Desc(i).Addr = buf + (ulong)(i * 64);
            rp.Desc(i).Len = 64;
            rp.Driver.Post((ushort)i);
        }
        rp.Driver.PublishNoKick();
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
            rp.Device.PushUsed(rp.Chain.Id, 0);
            Assert.Equal(0, rp.Driver.ReadUsedIdx()); // nothing visible before the publish
        }
        Assert.Equal(8, rp.Device.PendingUsed);
        rp.Device.Publish(false);
        Assert.Equal(8, rp.Driver.ReadUsedIdx());
        Assert.Equal(PublishResult.Nothing, rp.Device.Publish(true));
    }

    [Fact]
    public void ChainsOfSeveralDescriptorsBecomeSegmentsInOrder()
    {
        using var rp = new RingPair(8);
        ulong a = rp.Buffer(100, 1), b = rp.Buffer(200, 2), c = rp.Buffer(300, 3);
        rp.Desc(5) = new VirtqDesc { Addr = a, Len = 100, Flags = VirtqDesc.FlagNext, Next = 2 };
        rp.Desc(2) = new VirtqDesc { Addr = b, Len = 200, Flags = VirtqDesc.FlagNext, Next = 7 };
        rp.Desc(7) = new VirtqDesc { Addr = c, Len = 300, Flags = 0 };
        rp.Driver.Post(5);
        rp.Driver.PublishNoKick();
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        Assert.Equal(5, rp.Chain.Id);
        Assert.Equal(3, rp.Chain.Count);
        Assert.Equal(600u, rp.Chain.TotalLen);
        Assert.Equal(2, rp.Chain.SegmentSpan(1)[0]);
        Assert.Equal(3, rp.Chain.SegmentSpan(2)[299]);
    }

    [Fact]
    public void RewindGivesBackChainsTakenButNotUsed()
    {
        using var rp = new RingPair(8);
        ulong buf = rp.Buffer(8 * 64);
        for (int i = 0; i < 4; i++)
        {
            rp.Desc(i) = new VirtqDesc { Addr = buf + (ulong)(64 * i), Len = 64, Flags = VirtqDesc.FlagWrite };
            rp.Driver.Post((ushort)i);
        }
        rp.Driver.PublishNoKick();
        uint mark = rp.Device.MarkPosition();
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, true));
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, true));
        rp.Device.RewindTo(mark);
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, true));
        Assert.Equal(0, rp.Chain.Id);
    }

    [Fact]
    public void AttachResyncsToUsedIndexWhenBaseDisagrees()
    {
        using var rp = new RingPair(8, start: 100);
        SplitRing r = default;
        var err = RingAddresses.AttachSplit(rp.Memory, rp.Addr, 8, 90, eventIdx: false, indirect: false, ref r, out bool resynced);
        Assert.Null(err);
        Assert.True(resynced);
        Assert.Equal(100, r.LastAvail);
        Assert.Equal(100, r.NextUsed);
    }

    [Fact]
    public void RingAddressesOutsideGuestMemoryAreRefusedByName()
    {
        using var rp = new RingPair(8);
        var a = rp.Addr;
        a.UsedUserAddr = 0xdead_0000;
        var err = RingAddresses.CheckSplit(rp.Memory, a, 8);
        Assert.NotNull(err);
        Assert.Equal("used_user_addr", err!.Value.Field);
        a = rp.Addr;
        a.DescUserAddr += 8; // misaligned
        Assert.Equal("desc_user_addr", RingAddresses.CheckSyntax(a)!.Value.Field);
    }
}

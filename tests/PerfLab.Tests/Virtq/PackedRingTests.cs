using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

public unsafe class PackedRingTests
{
    [Theory]
    [InlineData(8, false, true)]
    [InlineData(8, true, true)]
    [InlineData(7, false, false)]   // not a power of two
    [InlineData(5, true, true)]
    [InlineData(1, false, true)]    // every slot flips the wrap counters
    [InlineData(2, true, false)]
    [InlineData(256, true, true)]
    [InlineData(100, false, true)]
    public void RandomBuffersSurviveManyWrapsIntact(int size, bool deviceWrites, bool burst)
    {
        using var rp = new PackedRingPair((ushort)size);
        var w = new PackedWorkload(rp, deviceWrites, postSeed: size, takeSeed: size * 7 + 1);
        // Bounded: a device that stops seeing buffers must fail the test, not hang it.
        for (int round = 0; round < 20_000 && (w.SlotsReclaimed < 6L * size || round < 200); round++)
        {
            w.PostSome();
            w.TakeSome(burst, all: false);
            w.Reclaim();
        }
        w.Drain(burst);
        Assert.Equal(w.Posted, w.Reclaimed);
        Assert.Equal(w.Posted, w.Taken);
        Assert.True(w.SlotsReclaimed >= 6L * size);
        // Positions and wrap counters agree on both sides with the slots that went round.
        long laps = w.SlotsReclaimed / size;
        ushort pos = (ushort)(w.SlotsReclaimed % size);
        bool wrap = laps % 2 == 0;
        Assert.Equal(pos, rp.Device.NextAvail);
        Assert.Equal(pos, rp.Device.NextUsed);
        Assert.Equal(pos, rp.Driver.NextAvail);
        Assert.Equal(pos, rp.Driver.NextUsed);
        Assert.Equal(wrap, rp.Device.AvailWrap);
        Assert.Equal(wrap, rp.Device.UsedWrap);
        Assert.Equal(wrap, rp.Driver.AvailWrap);
        Assert.Equal(wrap, rp.Driver.UsedWrap);
        Assert.Equal(size, rp.Driver.FreeSlots);
    }

    /// <summary>
    /// The burst path (TakeSingles, RewindBurst, PushUsedBurst) leaves the ring exactly as the
    /// general path (TryPop, PushUsed) does: two rings fed the same buffers end every round with
    /// identical descriptor bytes.
    /// </summary>
    [Theory]
    [InlineData(8, false)]
    [InlineData(8, true)]
    [InlineData(13, true)]
    [InlineData(64, false)]
    public void BurstPathMatchesTheGeneralPathByteForByte(int size, bool deviceWrites)
    {
        using var a = new PackedRingPair((ushort)size);
        using var b = new PackedRingPair((ushort)size);
        Assert.Equal(a.DescGpa, b.DescGpa);
        var wa = new PackedWorkload(a, deviceWrites, postSeed: 5, takeSeed: 6);
        var wb = new PackedWorkload(b, deviceWrites, postSeed: 5, takeSeed: 7);
        int bytes = PackedLayout.DescRingBytes(size);
        for (int round = 0; round < 300; round++)
        {
            wa.PostSome();
            wb.PostSome();
            wa.TakeSome(burst: false, all: true);
            wb.TakeSome(burst: true, all: true);
            Assert.True(a.Ram.Span(a.DescGpa, bytes).SequenceEqual(b.Ram.Span(b.DescGpa, bytes)), $"rings differ after round {round}");
            wa.Reclaim();
            wb.Reclaim();
        }
        Assert.True(wa.SlotsReclaimed > 4L * size);
        Assert.Equal(wa.SlotsReclaimed, wb.SlotsReclaimed);
    }

    [Fact]
    public void ChainOverTheWrapPointIsOneBufferInOrder()
    {
        using var rp = new PackedRingPair(8);
        ulong buf = rp.Buffer(6 * 64, 0xEE);
        for (ushort i = 0; i < 6; i++)
        {
            Assert.True(rp.Driver.Post(i, buf + (ulong)(64 * i), 64, deviceWrites: false));
        }
        rp.Driver.PublishNoKick();
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
            rp.Device.PushUsed(rp.Chain.Id, 0, rp.Chain.SlotCount);
        }
        rp.Device.Publish(false);
        while (rp.Driver.TryTakeUsed(out _, out _))
        {
        }
        // Slots 6, 7, 0, 1: the driver's wrap counter flips in the middle of the chain.
        ulong a = rp.Buffer(100, 1), b = rp.Buffer(200, 2), c = rp.Buffer(300, 3), d = rp.Buffer(400, 4);
        PackedDesc[] chain =
        [
            new() { Addr = a, Len = 100 }, new() { Addr = b, Len = 200 },
            new() { Addr = c, Len = 300 }, new() { Addr = d, Len = 400 },
        ];
        Assert.True(rp.Driver.PostChain(5, chain));
        Assert.False(rp.Driver.AvailWrap);
        rp.Driver.PublishNoKick();
        Assert.Equal(1, rp.Device.Available());
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        Assert.Equal(5, rp.Chain.Id);
        Assert.Equal(4, rp.Chain.SlotCount);
        Assert.Equal(4, rp.Chain.Count);
        Assert.Equal(1000u, rp.Chain.TotalLen);
        for (int s = 0; s < 4; s++)
        {
            Assert.Equal(s + 1, rp.Chain.SegmentSpan(s)[0]);
            Assert.Equal(100 * (s + 1), rp.Chain.SegmentSpan(s).Length);
        }
        Assert.Equal(2, rp.Device.NextAvail);
        Assert.False(rp.Device.AvailWrap);
        rp.Device.PushUsed(rp.Chain.Id, 0, rp.Chain.SlotCount);
        rp.Device.Publish(false);
        // One used descriptor, in the chain's first slot, with the device's wrap counter (1).
        Assert.Equal(5, rp.Desc(6).Id);
        Assert.Equal(PackedDesc.WrapMask, rp.Desc(6).Flags & PackedDesc.WrapMask);
        Assert.Equal(2, rp.Device.NextUsed);
        Assert.False(rp.Device.UsedWrap);
        Assert.True(rp.Driver.TryTakeUsed(out ushort id, out _));
        Assert.Equal(5, id);
        Assert.Equal(2, rp.Driver.NextUsed);
        Assert.False(rp.Driver.UsedWrap);
        Assert.Equal(8, rp.Driver.FreeSlots);
    }

    [Fact]
    public void IndirectTableBecomesSegmentsWithTheSlotsId()
    {
        using var rp = new PackedRingPair(4);
        ulong a = rp.Buffer(10, 0xA), b = rp.Buffer(20, 0xB), c = rp.Buffer(30, 0xC);
        ulong table = rp.Ram.Alloc(3 * 16, 16);
        var t = new Span<PackedDesc>(rp.Ram.Host(table), 3);
        // Inside a table only WRITE counts: NEXT (as some drivers set) and ids are ignored.
        t[0] = new PackedDesc { Addr = a, Len = 10, Flags = PackedDesc.FlagWrite | PackedDesc.FlagNext, Id = 999 };
        t[1] = new PackedDesc { Addr = b, Len = 20, Flags = PackedDesc.FlagWrite | PackedDesc.FlagNext };
        t[2] = new PackedDesc { Addr = c, Len = 30, Flags = PackedDesc.FlagWrite };
        Assert.True(rp.Driver.PostIndirect(3, table, 3));
        rp.Driver.PublishNoKick();
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, deviceWrites: true));
        Assert.Equal(3, rp.Chain.Id);
        Assert.Equal(1, rp.Chain.SlotCount);
        Assert.Equal(3, rp.Chain.Count);
        Assert.Equal(60u, rp.Chain.TotalLen);
        Assert.Equal(0xC, rp.Chain.SegmentSpan(2)[29]);
        rp.Device.PushUsed(rp.Chain.Id, 55, rp.Chain.SlotCount);
        rp.Device.Publish(false);
        Assert.Equal(PackedDesc.FlagWrite, rp.Desc(0).Flags & PackedDesc.FlagWrite); // bytes were written
        Assert.True(rp.Driver.TryTakeUsed(out ushort id, out uint len));
        Assert.Equal((3, 55u), (id, len));
    }

    [Fact]
    public void BufferStraddlingTwoRegionsIsSplitIntoTwoSegments()
    {
        using var rp = new PackedRingPair(4, ramBytes: 2 << 20, regions: 2);
        ulong boundary = rp.Ram.Regions[1].Gpa;
        Assert.Equal(rp.Ram.Regions[0].Gpa + rp.Ram.Regions[0].Size, boundary);
        Assert.True(rp.Driver.Post(0, boundary - 100, 300, deviceWrites: false));
        rp.Driver.PublishNoKick();
        Span<BufRef> burst = stackalloc BufRef[4];
        Assert.Equal(0, rp.Device.TakeSingles(rp.Memory, burst, false)); // not in one piece: general path
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        Assert.Equal(2, rp.Chain.Count);
        Assert.Equal(100u, rp.Chain[0].Len);
        Assert.Equal(200u, rp.Chain[1].Len);
        Assert.Equal(boundary, rp.Chain[1].Gpa);
    }

    [Fact]
    public void UsedDescriptorsBecomeVisibleOnlyAtPublishAllAtOnce()
    {
        using var rp = new PackedRingPair(8);
        ulong buf = rp.Buffer(8 * 64);
        for (ushort i = 0; i < 5; i++)
        {
            rp.Driver.Post(i, buf + (ulong)(64 * i), 64, deviceWrites: true);
        }
        Assert.Equal(0, rp.Device.Available()); // nothing visible before the driver publishes
        rp.Driver.PublishNoKick();
        Assert.Equal(5, rp.Device.Available());
        Span<BufRef> burst = stackalloc BufRef[8];
        Assert.Equal(5, rp.Device.TakeSingles(rp.Memory, burst, true));
        for (int i = 0; i < 3; i++)
        {
            rp.Device.PushUsed(burst[i].Id, 10, 1);
            Assert.False(rp.Driver.HasUsed());
        }
        burst[3].Len = 7;
        burst[4].Len = 0;
        rp.Device.PushUsedBurst(burst[3..5]);
        Assert.False(rp.Driver.HasUsed());
        Assert.Equal(5, rp.Device.PendingUsed);
        Assert.Equal(PublishResult.Suppressed, rp.Device.Publish(false));
        Assert.Equal(PublishResult.Nothing, rp.Device.Publish(true));
        uint[] lens = [10, 10, 10, 7, 0];
        for (int i = 0; i < 5; i++)
        {
            Assert.True(rp.Driver.TryTakeUsed(out ushort id, out uint len));
            Assert.Equal((i, lens[i]), (id, len));
            // WRITE says whether the device wrote anything.
            Assert.Equal(lens[i] != 0, (rp.Desc(i).Flags & PackedDesc.FlagWrite) != 0);
        }
        Assert.False(rp.Driver.TryTakeUsed(out _, out _));
    }

    [Fact]
    public void AvailableCountsCompleteChainsAsALowerBound()
    {
        using var rp = new PackedRingPair(16, scanLimit: 4);
        ulong buf = rp.Buffer(16 * 64);
        Assert.Equal(0, rp.Device.Available());
        PackedDesc[] three = [new() { Addr = buf, Len = 8 }, new() { Addr = buf + 64, Len = 8 }, new() { Addr = buf + 128, Len = 8 }];
        rp.Driver.Post(0, buf, 8, false);
        rp.Driver.PostChain(1, three);
        rp.Driver.Post(2, buf, 8, false);
        rp.Driver.PublishNoKick();
        Assert.Equal(2, rp.Device.Available()); // the scan of 4 slots: the single and the chain of 3
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        Assert.Equal(1, rp.Device.Available()); // remembered, not rescanned
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        Assert.Equal(3, rp.Chain.SlotCount);
        Assert.Equal(1, rp.Device.Available()); // used up: a fresh scan finds the last single
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        Assert.Equal(0, rp.Device.Available());
        Assert.Equal(PopStatus.Empty, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));

        // A chain longer than the scan still reports at least one buffer.
        PackedDesc[] six = new PackedDesc[6];
        for (int i = 0; i < 6; i++)
        {
            six[i] = new PackedDesc { Addr = buf + (ulong)(64 * i), Len = 8 };
        }
        rp.Driver.PostChain(3, six);
        rp.Driver.PublishNoKick();
        Assert.Equal(1, rp.Device.Available());
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        Assert.Equal(6, rp.Chain.SlotCount);
    }

    [Fact]
    public void RewindGivesBackBuffersAcrossTheWrap()
    {
        using var rp = new PackedRingPair(4);
        ulong buf = rp.Buffer(4 * 64);
        for (ushort round = 0; round < 3; round++)
        {
            rp.Driver.Post(round, buf, 64, false);
            rp.Driver.PublishNoKick();
            Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
            rp.Device.PushUsed(rp.Chain.Id, 0, 1);
            rp.Device.Publish(false);
            Assert.True(rp.Driver.TryTakeUsed(out _, out _));
        }
        // Slot 3, then slot 0 of the next lap.
        rp.Driver.Post(0, buf, 64, false);
        rp.Driver.PostChain(1, [new() { Addr = buf, Len = 1 }, new() { Addr = buf, Len = 2 }]);
        rp.Driver.PublishNoKick();
        uint mark = rp.Device.MarkPosition();
        Assert.Equal(3u | 0x8000u, mark);
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        Assert.Equal(1, rp.Chain.Id);
        Assert.Equal(2, rp.Device.NextAvail);
        Assert.False(rp.Device.AvailWrap);
        rp.Device.RewindTo(mark);
        Assert.Equal(2, rp.Device.Available());
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        Assert.Equal(0, rp.Chain.Id);
        uint mark2 = rp.Device.MarkPosition();
        Assert.Equal(0u, mark2); // slot 0, wrap 0
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        Assert.Equal(1, rp.Chain.Id);
        Assert.Equal(3u, rp.Chain.TotalLen);

        // RewindBurst keeps the first buffers of a burst, crossing the wrap.
        rp.Device.RewindTo(mark);
        Span<BufRef> burst = stackalloc BufRef[4];
        Assert.Equal(1, rp.Device.TakeSingles(rp.Memory, burst, false)); // stops at the chain
        rp.Device.RewindBurst(mark, 1);
        Assert.Equal(0, rp.Device.NextAvail);
        Assert.False(rp.Device.AvailWrap);
        rp.Device.RewindBurst(mark, 0);
        Assert.Equal(3, rp.Device.NextAvail);
        Assert.True(rp.Device.AvailWrap);
    }
}

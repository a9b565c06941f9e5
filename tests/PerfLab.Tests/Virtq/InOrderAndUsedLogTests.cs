using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

/// <summary>The device side's IN_ORDER used-ring shortcut and its dirty logging of used-ring
/// writes, against real memfd memory with the driver-side ring as the other party.</summary>
public unsafe class InOrderAndUsedLogTests
{
    private static void PostTx(RingPair rp, int count, int first = 0)
    {
        ulong buf = rp.Buffer(rp.Size * 64);
        for (int i = first; i < first + count; i++)
        {
            int id = i % rp.Size;
            rp.Desc(id) = new VirtqDesc { Addr = buf + (ulong)(64 * id), Len = 64 };
            rp.Driver.Post((ushort)id);
        }
        rp.Driver.PublishNoKick();
    }

    private static VirtqUsedElem UsedAt(RingPair rp, int slot) =>
        ((VirtqUsedElem*)(rp.Ram.Host(rp.UsedGpa) + 4))[slot];

    [Fact]
    public void InOrderTxBurstIsOneUsedElementHoldingTheLastIdAndUsedIdxAdvancesByTheBurst()
    {
        using var rp = new RingPair(16, inOrder: true);
        PostTx(rp, 8);
        var bufs = new BufRef[8];
        Assert.Equal(8, rp.Device.TakeSingles(rp.Memory, bufs, deviceWrites: false));
        rp.Device.PushUsedBurstEmpty(bufs);
        rp.Device.Publish(false);
        Assert.Equal(8, rp.Driver.ReadUsedIdx());
        Assert.Equal(new VirtqUsedElem { Id = 7, Len = 0 }, UsedAt(rp, 0));
        for (int s = 1; s < 8; s++)
        {
            Assert.Equal(default, UsedAt(rp, s)); // skipped slots are not written
        }
        // The driver's view: one element, a batch of 8 buffers.
        Assert.Equal(8, rp.Driver.UsedAvailable());
        Assert.Equal(7u, rp.Driver.PeekUsed().Id);
        rp.Driver.SkipUsed(8);
        Assert.Equal(0, rp.Driver.UsedAvailable());
    }

    [Fact]
    public void InOrderSinglePushesJoinTheOpenBatchUntilThePublish()
    {
        using var rp = new RingPair(16, inOrder: true);
        PostTx(rp, 6);
        var bufs = new BufRef[3];
        Assert.Equal(3, rp.Device.TakeSingles(rp.Memory, bufs, false));
        rp.Device.PushUsedBurstEmpty(bufs);
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        rp.Device.PushUsed(rp.Chain.Id, 0);
        rp.Device.Publish(false);
        Assert.Equal(new VirtqUsedElem { Id = 3, Len = 0 }, UsedAt(rp, 0));
        // After a publish the next batch starts at the next slot: the driver may have read slot 0.
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        rp.Device.PushUsed(rp.Chain.Id, 0);
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        rp.Device.PushUsed(rp.Chain.Id, 0);
        rp.Device.Publish(false);
        Assert.Equal(new VirtqUsedElem { Id = 3, Len = 0 }, UsedAt(rp, 0));
        Assert.Equal(new VirtqUsedElem { Id = 5, Len = 0 }, UsedAt(rp, 4));
        Assert.Equal(6, rp.Driver.ReadUsedIdx());
    }

    [Fact]
    public void InOrderBuffersWithWrittenBytesKeepOneElementEach()
    {
        using var rp = new RingPair(16, inOrder: true);
        ulong buf = rp.Buffer(16 * 64);
        for (int i = 0; i < 4; i++)
        {
            rp.Desc(i) = new VirtqDesc { Addr = buf + (ulong)(64 * i), Len = 64, Flags = VirtqDesc.FlagWrite };
            rp.Driver.Post((ushort)i);
        }
        rp.Driver.PublishNoKick();
        var bufs = new BufRef[4];
        Assert.Equal(4, rp.Device.TakeSingles(rp.Memory, bufs, true));
        for (int i = 0; i < 4; i++)
        {
            bufs[i].Len = (uint)(10 + i);
        }
        rp.Device.PushUsedBurst(bufs);
        rp.Device.Publish(false);
        for (int s = 0; s < 4; s++)
        {
            Assert.Equal(new VirtqUsedElem { Id = (uint)s, Len = (uint)(10 + s) }, UsedAt(rp, s));
        }
    }

    [Fact]
    public void WithoutInOrderEveryBufferHasItsElement()
    {
        using var rp = new RingPair(16);
        PostTx(rp, 4);
        var bufs = new BufRef[4];
        Assert.Equal(4, rp.Device.TakeSingles(rp.Memory, bufs, false));
        rp.Device.PushUsedBurstEmpty(bufs);
        rp.Device.Publish(false);
        for (int s = 0; s < 4; s++)
        {
            Assert.Equal((uint)s, UsedAt(rp, s).Id);
        }
    }

    private static DirtyLog MapLog(ulong bytes)
    {
        int fd = LibC.memfd_create("perflab-test-log", LibC.MFD_CLOEXEC);
        Assert.Equal(0, LibC.ftruncate(fd, (long)bytes));
        return DirtyLog.Map(new LogDesc { MmapSize = bytes, MmapOffset = 0 }, fd);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void UsedRingWritesAreLoggedAtTheLogAddressIncludingAcrossTheRingEnd(bool eventIdx)
    {
        // A 2048-entry used ring spans five pages (4 + 8*2048 + 2 bytes). Elements written
        // around the wrap sit on pages 3-4 (slots 2044..2047) and 0 (slots 0..3, with used.idx).
        using var rp = new RingPair(2048, eventIdx: eventIdx, start: 2044, ramBytes: 16 << 20);
        using DirtyLog log = MapLog(64 << 10);
        const ulong logGpa = 0x40_0000; // any guest address: the log need not equal the ring's GPA
        ulong page0 = logGpa >> 12;
        rp.Device.SetUsedLog(log, logGpa);
        PostTx(rp, 8, first: 2044);
        var bufs = new BufRef[8];
        Assert.Equal(8, rp.Device.TakeSingles(rp.Memory, bufs, false));
        rp.Device.PushUsedBurstEmpty(bufs);
        rp.Device.Publish(false);
        bool[] expected = [true, false, false, true, true, false];
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(expected[i] == log.IsDirty(page0 + (ulong)i), $"page {i} of the used ring");
        }
        Assert.False(log.IsDirty(rp.UsedGpa >> 12), "the ring's own GPA is not the log address");

        // Kick-suppression writes land in the used ring as well: used.flags on page 0, or
        // avail_event (after the last element) on page 4.
        using DirtyLog log2 = MapLog(64 << 10);
        rp.Device.SetUsedLog(log2, logGpa);
        rp.Device.EnableKicks();
        Assert.True(log2.IsDirty(page0 + (eventIdx ? 4UL : 0UL)));
        Assert.False(log2.IsDirty(page0 + (eventIdx ? 0UL : 4UL)));
    }

    [Fact]
    public void NothingIsLoggedWithoutALog()
    {
        using var rp = new RingPair(16);
        using DirtyLog log = MapLog(4096);
        PostTx(rp, 2);
        var bufs = new BufRef[2];
        rp.Device.TakeSingles(rp.Memory, bufs, false);
        rp.Device.PushUsedBurstEmpty(bufs);
        rp.Device.Publish(false);
        Assert.False(rp.Device.LogsUsed);
        for (ulong p = 0; p < 4096 * 8; p++)
        {
            Assert.False(log.IsDirty(p));
        }
    }
}

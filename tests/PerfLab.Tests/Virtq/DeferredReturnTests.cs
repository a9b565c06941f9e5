using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

/// <summary>
/// The split ring's deferred publish (one burst held back) against a driver that reclaims the
/// way DPDK's virtio PMD does in order: everything used once more than size - 32 descriptors
/// are, otherwise only what the next burst needs; no interrupts requested.
/// </summary>
public unsafe class DeferredReturnTests
{
    private const int Burst = 32;
    private const int FreeThreshold = 32;

    private static VirtqUsedElem UsedAt(RingPair rp, int slot) =>
        ((VirtqUsedElem*)(rp.Ram.Host(rp.UsedGpa) + 4))[slot & (rp.Size - 1)];

    [Fact]
    public void EachPublishReturnsThePreviousBurstAndAFullPublishTheRest()
    {
        using var rp = new RingPair(64, inOrder: true);
        ulong buf = rp.Buffer(64 * 64);
        var bufs = new BufRef[8];
        for (int burst = 0; burst < 3; burst++)
        {
            for (int i = 0; i < 8; i++)
            {
                int id = burst * 8 + i;
                rp.Desc(id) = new VirtqDesc { Addr = buf + (ulong)(64 * id), Len = 64 };
                rp.Driver.Post((ushort)id);
            }
            rp.Driver.PublishNoKick();
            Assert.Equal(8, rp.Device.TakeSingles(rp.Memory, bufs, deviceWrites: false));
            rp.Device.PushUsedBurstEmpty(bufs);
            PublishResult r = rp.Device.PublishDeferred(false);
            Assert.Equal(burst == 0 ? PublishResult.Nothing : PublishResult.Suppressed, r);
            Assert.Equal(burst * 8, rp.Driver.ReadUsedIdx());
            Assert.Equal(8, rp.Device.PendingUsed);
        }
        // Each burst is its own IN_ORDER element: a publish never covers half of one.
        Assert.Equal(new VirtqUsedElem { Id = 7, Len = 0 }, UsedAt(rp, 0));
        Assert.Equal(new VirtqUsedElem { Id = 15, Len = 0 }, UsedAt(rp, 8));
        Assert.Equal(new VirtqUsedElem { Id = 23, Len = 0 }, UsedAt(rp, 16));
        Assert.Equal(PublishResult.Suppressed, rp.Device.Publish(false));
        Assert.Equal(24, rp.Driver.ReadUsedIdx());
        Assert.Equal(0, rp.Device.PendingUsed);
        Assert.Equal(PublishResult.Nothing, rp.Device.PublishDeferred(false));
    }

    [Theory]
    [InlineData(256, true)]
    [InlineData(1024, true)]
    [InlineData(32768, true)]
    [InlineData(256, false)]
    [InlineData(1024, false)]
    [InlineData(32768, false)]
    public void ADpdkLikeDriverGetsEveryBufferBackExactlyOnce(int size, bool inOrder)
    {
        using var rp = new RingPair((ushort)size, inOrder: inOrder, ramBytes: 8 << 20);
        ulong buf = rp.Buffer(64);
        for (int i = 0; i < size; i++)
        {
            rp.Desc(i) = new VirtqDesc { Addr = buf, Len = 64 };
        }
        var bufs = new BufRef[Burst];
        int free = size, sent = 0, reclaimed = 0, fullReclaims = 0;
        ushort cons = 0;
        for (int round = 0; round < 4 * size / Burst + 8; round++)
        {
            // The driver (virtio_xmit_pkts_inorder): reclaim, then post what fits.
            int used = (ushort)(rp.Driver.ReadUsedIdx() - cons);
            if (used > size - FreeThreshold)
            {
                fullReclaims++;
                Reclaim(used);
            }
            if (free < Burst)
            {
                used = (ushort)(rp.Driver.ReadUsedIdx() - cons);
                Reclaim(Math.Min(Burst - free, used));
            }
            int n = Math.Min(Burst, free);
            for (int i = 0; i < n; i++)
            {
                rp.Driver.Post((ushort)((sent + i) & (size - 1)));
            }
            rp.Driver.PublishNoKick();
            sent += n;
            free -= n;
            // The device: takes what is there and returns it one burst late.
            int took = rp.Device.TakeSingles(rp.Memory, bufs, deviceWrites: false);
            Assert.Equal(n, took);
            rp.Device.PushUsedBurstEmpty(bufs.AsSpan(0, took));
            rp.Device.PublishDeferred(false);
            // Never more than one burst held back, and never more returned than taken.
            Assert.InRange(rp.Device.PendingUsed, 0, Burst);
            Assert.InRange((ushort)(rp.Driver.ReadUsedIdx() - cons), 0, size - free);
        }
        // Held back by one burst, the driver never finds more than size - 32 used: it reclaims
        // what each burst needs, never the whole ring.
        Assert.Equal(0, fullReclaims);
        // Idle: the held burst is returned; everything sent comes back exactly once.
        rp.Device.Publish(false);
        Reclaim((ushort)(rp.Driver.ReadUsedIdx() - cons));
        Assert.Equal(sent, reclaimed);
        Assert.Equal(size, free);
        if (inOrder)
        {
            // The last burst's element: at its first slot, holding its last id.
            Assert.Equal((uint)((sent - 1) & (size - 1)), UsedAt(rp, sent - Burst).Id);
        }
        else
        {
            for (int i = sent - size; i < sent; i++)
            {
                Assert.Equal((uint)(i & (size - 1)), UsedAt(rp, i).Id);
            }
        }

        void Reclaim(int count)
        {
            cons = (ushort)(cons + count);
            free += count;
            reclaimed += count;
        }
    }
}

using PerfLab.Backend.Devices;
using PerfLab.Backend.Rings;
using PerfLab.LoadGen;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

/// <summary>
/// The TX-return rules (<see cref="TxReturnRule"/>): the split ring's deferred publish (one
/// burst held back) against a driver that reclaims the way DPDK's virtio PMD does in order:
/// everything used once more than size - 32 descriptors are, otherwise only what the next
/// burst needs; no interrupts requested. Which bursts the auto rule holds, and that nothing
/// stays held when the ring idles or the worker sleeps.
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
    [InlineData(256, true, TxReturn.Deferred)]
    [InlineData(1024, true, TxReturn.Deferred)]
    [InlineData(32768, true, TxReturn.Deferred)]
    [InlineData(256, false, TxReturn.Deferred)]
    [InlineData(1024, false, TxReturn.Deferred)]
    [InlineData(32768, false, TxReturn.Deferred)]
    [InlineData(256, true, TxReturn.Auto)]
    [InlineData(512, true, TxReturn.Auto)]
    [InlineData(1024, true, TxReturn.Auto)]
    [InlineData(32768, true, TxReturn.Auto)]
    [InlineData(1024, false, TxReturn.Auto)]
    [InlineData(1024, true, TxReturn.Immediate)]
    public void ADpdkLikeDriverGetsEveryBufferBackExactlyOnce(int size, bool inOrder, TxReturn mode)
    {
        using var rp = new RingPair((ushort)size, inOrder: inOrder, ramBytes: 8 << 20);
        ulong buf = rp.Buffer(64);
        for (int i = 0; i < size; i++)
        {
            rp.Desc(i) = new VirtqDesc { Addr = buf, Len = 64 };
        }
        var bufs = new BufRef[Burst];
        var state = default(TxReturnState);
        bool holds = TxReturnRule.Holds(mode, Burst, size);
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
            TxReturnRule.Publish(ref rp.Device, ref state, mode, took, canCall: false);
            // Full bursts only: held back where the rule holds; never more than one burst
            // held, never more returned than taken.
            Assert.Equal(holds ? took : 0, rp.Device.PendingUsed);
            Assert.InRange((ushort)(rp.Driver.ReadUsedIdx() - cons), 0, size - free);
        }
        // Held back by one burst, the driver never finds more than size - 32 used: it reclaims
        // what each burst needs, never the whole ring. Returned at once, every burst, it does
        // (the cliff: once a ring's worth).
        if (!holds)
        {
            Assert.InRange(fullReclaims, 3, 5);
        }
        else
        {
            Assert.Equal(0, fullReclaims);
        }
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

    [Theory]
    [InlineData(TxReturn.Immediate, 32, 1024, false)]
    [InlineData(TxReturn.Immediate, 64, 1024, false)]
    [InlineData(TxReturn.Deferred, 1, 1024, true)]
    [InlineData(TxReturn.Deferred, 32, 64, true)]
    [InlineData(TxReturn.Auto, 1, 1024, false)]
    [InlineData(TxReturn.Auto, 31, 1024, false)]
    [InlineData(TxReturn.Auto, 32, 1024, true)]
    [InlineData(TxReturn.Auto, 64, 512, true)]
    [InlineData(TxReturn.Auto, 64, 256, false)]
    [InlineData(TxReturn.Auto, 32, 64, false)]
    [InlineData(TxReturn.Auto, 32, 32768, true)]
    public void AutoHoldsFullBurstsOnRingsOf512OrMore(TxReturn mode, int taken, int ringSize, bool held) =>
        Assert.Equal(held, TxReturnRule.Holds(mode, taken, ringSize));

    [Theory]
    [InlineData(TxReturn.Auto, PollMode.Busy, TxReturn.Auto)]
    [InlineData(TxReturn.Auto, PollMode.Interrupt, TxReturn.Auto)]
    [InlineData(TxReturn.Auto, PollMode.Hybrid, TxReturn.Auto)]
    [InlineData(TxReturn.Auto, PollMode.Backoff, TxReturn.Immediate)]
    [InlineData(TxReturn.Deferred, PollMode.Backoff, TxReturn.Deferred)]
    [InlineData(TxReturn.Immediate, PollMode.Busy, TxReturn.Immediate)]
    public void AutoIsImmediateWhereTheWorkerSleepsWithoutArming(TxReturn requested, PollMode poll, TxReturn effective) =>
        Assert.Equal(effective, TxReturnRule.Effective(requested, poll));

    /// <summary>A driver with one frame in flight (a ping-pong) gets each frame back with the
    /// round that took it; a full burst is held until the next round, which returns it with a
    /// partial burst.</summary>
    [Fact]
    public void AutoReturnsAPartialBurstAtOnceWithWhatWasHeld()
    {
        using var rp = new RingPair(1024, inOrder: true, ramBytes: 8 << 20);
        ulong buf = rp.Buffer(64);
        var bufs = new BufRef[64];
        var state = default(TxReturnState);
        int sent = 0;
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(PublishResult.Suppressed, Round(1));
            Assert.Equal(sent, rp.Driver.ReadUsedIdx());
            Assert.Equal(0, rp.Device.PendingUsed);
        }
        Assert.Equal(PublishResult.Nothing, Round(32));
        Assert.Equal(sent - 32, rp.Driver.ReadUsedIdx());
        Assert.Equal(PublishResult.Suppressed, Round(64));
        Assert.Equal(sent - 64, rp.Driver.ReadUsedIdx());
        Assert.Equal(PublishResult.Suppressed, Round(5));
        Assert.Equal(sent, rp.Driver.ReadUsedIdx());
        Assert.Equal(0, rp.Device.PendingUsed);

        PublishResult Round(int n)
        {
            sent = PostFrames(rp, buf, sent, n);
            int took = rp.Device.TakeSingles(rp.Memory, bufs, deviceWrites: false);
            Assert.Equal(n, took);
            rp.Device.PushUsedBurstEmpty(bufs.AsSpan(0, took));
            return TxReturnRule.Publish(ref rp.Device, ref state, TxReturn.Auto, took, canCall: false);
        }
    }

    /// <summary>Through the data path (sink): a full burst is held; it goes back after
    /// <see cref="TxReturnRule.ProbationRounds"/> empty rounds in a row while the driver is not
    /// known to stream (auto), after <see cref="TxReturnRule.FlushAfterIdleRounds"/> once it
    /// posted a burst while one was held (or always, deferred), and at a flush (what the worker
    /// does before it sleeps).</summary>
    [Theory]
    [InlineData(TxReturn.Auto)]
    [InlineData(TxReturn.Deferred)]
    public void AHeldBurstGoesBackWhenTheRingIdlesOrTheWorkerSleeps(TxReturn mode)
    {
        using var rp = new RingPair(1024, inOrder: true, ramBytes: 8 << 20);
        ulong buf = rp.Buffer(64);
        var p = new QueuePair(0) { Tx = new Vring(1), TxBurst = new BufRef[64] };
        var c = new DataPathConfig(NetMode.Sink, true, 64, 12, false, null, mode);
        int sent = 0;

        // One full burst, then nothing: returned after the probation (auto) or the long wait.
        Send(32);
        Assert.Equal(32, NetDataPath.Sink(p, ref rp.Device, rp.Memory, in c));
        Assert.Equal(0, rp.Driver.ReadUsedIdx());
        IdleUntilReturned(mode == TxReturn.Auto ? TxReturnRule.ProbationRounds : TxReturnRule.FlushAfterIdleRounds, 32);

        // Streaming: a burst posted while one is held; each round returns the one before, and
        // the held one now waits the long time.
        Send(32);
        Assert.Equal(32, NetDataPath.Sink(p, ref rp.Device, rp.Memory, in c));
        Send(40);
        Assert.Equal(40, NetDataPath.Sink(p, ref rp.Device, rp.Memory, in c));
        Assert.Equal(64, rp.Driver.ReadUsedIdx());
        IdleUntilReturned(TxReturnRule.FlushAfterIdleRounds, 104);

        // The driver stopped streaming: back on probation. A flush returns what is held.
        Send(32);
        Assert.Equal(32, NetDataPath.Sink(p, ref rp.Device, rp.Memory, in c));
        IdleUntilReturned(mode == TxReturn.Auto ? TxReturnRule.ProbationRounds : TxReturnRule.FlushAfterIdleRounds, 136);
        Send(32);
        NetDataPath.Sink(p, ref rp.Device, rp.Memory, in c);
        Assert.Equal(136, rp.Driver.ReadUsedIdx());
        NetDataPath.FlushTx(p, ref rp.Device);
        Assert.Equal(168, rp.Driver.ReadUsedIdx());
        Assert.Equal(0, rp.Device.PendingUsed);
        Assert.Equal(168, p.Tx.Counters.Packets);

        void Send(int n) => sent = PostFrames(rp, buf, sent, n);

        void IdleUntilReturned(int rounds, int usedAfter)
        {
            int before = rp.Driver.ReadUsedIdx();
            for (int i = 1; i < rounds; i++)
            {
                Assert.Equal(0, NetDataPath.Sink(p, ref rp.Device, rp.Memory, in c));
            }
            Assert.Equal(before, rp.Driver.ReadUsedIdx());
            Assert.Equal(0, NetDataPath.Sink(p, ref rp.Device, rp.Memory, in c));
            Assert.Equal(usedAfter, rp.Driver.ReadUsedIdx());
            Assert.Equal(0, rp.Device.PendingUsed);
        }
    }

    /// <summary>The driver posts <paramref name="n"/> 64-byte frames in ring order after the
    /// <paramref name="sent"/> before them, without a kick; returns the new total.</summary>
    private static int PostFrames(RingPair rp, ulong buf, int sent, int n)
    {
        for (int i = 0; i < n; i++)
        {
            int id = (sent + i) & (rp.Size - 1);
            rp.Desc(id) = new VirtqDesc { Addr = buf, Len = 64 };
            rp.Driver.Post((ushort)id);
        }
        rp.Driver.PublishNoKick();
        return sent + n;
    }

    /// <summary>A guest that sends one full burst and waits for it to come back (in flight 32,
    /// bursts of 32) against a sleeping worker: every burst is held and every one goes back
    /// before the worker sleeps, so the guest never stalls.</summary>
    [Fact]
    public void AGuestWaitingForItsHeldBurstGetsItBackBeforeTheWorkerSleeps()
    {
        using var be = new InProcessBackend(new NetDeviceOptions
        {
            MaxQueuePairs = 1,
            Mode = NetMode.Sink,
            TxReturn = TxReturn.Auto,
            Poll = new PollOptions { Mode = PollMode.Interrupt },
        });
        Timeouts.Run(Timeouts.Process, () =>
        {
            using var gen = new LoadGenerator(Traffic.Quick(be.SocketPath) with { TxOnly = true, Verify = false, Burst = 32, MaxInFlight = 32, QueueSize = 1024 });
            gen.Setup();
            LoadGenResult r = gen.Run();
            Assert.True(r.Received > 1000, $"only {r.Received} frames came back");
            Assert.Equal(0, r.RingErrors);
        }, "full bursts, one in flight");
    }

    /// <summary>Rings stopped (reconnects) or moved (memory table changes) while auto holds a
    /// burst: the device returns it when it pauses, so a ring resumed at used.idx takes no
    /// buffer twice (loopback, every frame checked once and in order).</summary>
    [Theory]
    [InlineData("reconnect")]
    [InlineData("remap")]
    public void PausingTheDeviceReturnsWhatWasHeld(string exercise)
    {
        using var be = new InProcessBackend(new NetDeviceOptions
        {
            MaxQueuePairs = 1,
            TxReturn = TxReturn.Auto,
            Poll = new PollOptions { Mode = PollMode.Interrupt },
        });
        Timeouts.Run(Timeouts.Process, () =>
        {
            LoadGenOptions o = Traffic.Quick(be.SocketPath) with { QueueSize = 1024 };
            using var gen = new LoadGenerator(exercise == "reconnect" ? o with { Reconnects = 3 } : o with { RemapIntervalMs = 20 });
            gen.Setup();
            Traffic.AssertIntact(gen.Run());
        }, exercise);
    }
}

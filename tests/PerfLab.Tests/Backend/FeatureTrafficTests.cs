using PerfLab.Backend.Devices;
using PerfLab.LoadGen;
using PerfLab.LoadGen.Guest;
using PerfLab.LoadGen.Guest.Rings;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Protocol;
using Xunit;

namespace PerfLab.Tests.Backend;

/// <summary>
/// Each negotiable feature carrying real traffic, in-process over a real UNIX socket: the load
/// generator plays QEMU and the guest with the feature on, verifies every payload byte, and the
/// test checks that the feature was negotiated and actually used.
/// </summary>
public class FeatureTrafficTests
{
    private static LoadGenOptions Options(string socket) => Traffic.Quick(socket);

    /// <summary>Runs one generator against the back-end and asserts every frame came back intact.</summary>
    private static LoadGenResult RunClean(InProcessBackend be, LoadGenOptions o, Action<LoadGenerator, LoadGenResult>? check = null)
    {
        LoadGenResult? result = null;
        Timeouts.Run(Timeouts.Process, () =>
        {
            using var gen = new LoadGenerator(o);
            gen.Setup();
            LoadGenResult r = gen.Run();
            Traffic.AssertIntact(r);
            check?.Invoke(gen, r);
            result = r;
        }, "traffic");
        return result!;
    }

    [Theory]
    [InlineData(HandshakeOrder.Qemu)]
    [InlineData(HandshakeOrder.Dpdk)]
    public void TwoQueuePairsEachCarryTrafficAndTheSecondStartsWhenEnabledAfterDriverOk(HandshakeOrder order)
    {
        using var be = new InProcessBackend(); // 2 pairs, one worker each
        RunClean(be, Options(be.SocketPath) with { Queues = 2, Order = order }, (gen, r) =>
        {
            Assert.True(VirtioFeatures.Has(gen.AckedFeatures, VirtioFeatures.NetMq));
            Assert.Equal(2, r.ReceivedPerPair.Length);
            Assert.All(r.ReceivedPerPair, n => Assert.True(n > 100, $"a pair carried only {n} frames"));
            Assert.True(be.Server.Vrings[1].Counters.Packets > 0 && be.Server.Vrings[3].Counters.Packets > 0);
            Assert.All(be.Server.Device.Workers, w => Assert.Equal(1, w.ActivePairCount));
            // As QEMU and virtio-user: pair 1 was enabled only after DRIVER_OK.
            var sent = gen.Frontend.Sent;
            Assert.True(sent.LastIndexOf(VhostUserRequest.SetVringEnable) > sent.LastIndexOf(VhostUserRequest.SetStatus));
        });
    }

    [Fact]
    public void TwoPairsOnOneWorkerBothCarryTraffic()
    {
        using var be = new InProcessBackend(new NetDeviceOptions { MaxQueuePairs = 2, PairsPerWorker = 2, Poll = new PollOptions { Mode = PollMode.Interrupt } });
        RunClean(be, Options(be.SocketPath) with { Queues = 2 }, (gen, r) =>
        {
            Assert.Single(be.Server.Device.Workers);
            Assert.Equal(2, be.Server.Device.Workers[0].ActivePairCount);
            Assert.All(r.ReceivedPerPair, n => Assert.True(n > 100));
        });
    }

    [Theory]
    [InlineData(1500, 512, false)]
    [InlineData(4000, 256, false)]
    [InlineData(1500, 512, true)]
    public void MergeableFramesLargerThanOneRxBufferSpanSeveralBuffersIntact(int size, int rxBuf, bool indirect)
    {
        using var be = new InProcessBackend();
        RunClean(be, Options(be.SocketPath) with { FrameSize = size, RxBufSize = rxBuf, Mergeable = true, Indirect = indirect }, (gen, r) =>
        {
            Assert.True(VirtioFeatures.Has(gen.AckedFeatures, VirtioFeatures.NetMrgRxbuf));
            int perFrame = (12 + size + rxBuf - 1) / rxBuf;
            // num_buffers said how many buffers each frame took; each continuation was verified.
            Assert.True(gen.Engine!.C.MergeBuffers >= (perFrame - 1) * r.Received, $"{gen.Engine.C.MergeBuffers} continuation buffers for {r.Received} frames of {perFrame} buffers");
        });
    }

    [Fact]
    public void MergeableFrameThatFitsOneBufferSaysOneBuffer()
    {
        using var be = new InProcessBackend();
        RunClean(be, Options(be.SocketPath) with { FrameSize = 256, Mergeable = true }, (gen, _) =>
            Assert.Equal(0, gen.Engine!.C.MergeBuffers));
    }

    [Theory]
    [InlineData(64)]
    [InlineData(1500)]
    public void IndirectTablesOnTxAndRxCarryFramesIntact(int size)
    {
        using var be = new InProcessBackend();
        RunClean(be, Options(be.SocketPath) with { FrameSize = size, Indirect = true }, (gen, _) =>
        {
            Assert.True(VirtioFeatures.Has(gen.AckedFeatures, VirtioFeatures.RingIndirectDesc));
            Assert.True(gen.Pairs[0].Indirect);
        });
    }

    [Theory]
    [InlineData(false, false, false)]
    [InlineData(true, false, false)]
    [InlineData(false, true, false)]
    [InlineData(false, false, true)]
    [InlineData(true, false, true)]
    [InlineData(false, true, true)]
    public void InOrderTxCompletionsComeBackInBatchesOfOneUsedElement(bool mergeable, bool indirect, bool packed)
    {
        using var be = new InProcessBackend();
        var o = Options(be.SocketPath) with { InOrder = true, Burst = 32, Mergeable = mergeable, Indirect = indirect, Packed = packed };
        if (mergeable)
        {
            o = o with { FrameSize = 1000, RxBufSize = 400 };
        }
        RunClean(be, o, (gen, r) =>
        {
            Assert.True(VirtioFeatures.Has(gen.AckedFeatures, VirtioFeatures.InOrder));
            Assert.True(packed ? be.Server.Vrings[1].Packed.InOrder : be.Server.Vrings[1].Split.InOrder);
            // The back-end returned whole batches as one element each: far fewer elements than frames.
            Assert.True(gen.Engine!.C.TxUsedElements * 2 < gen.Engine.C.Sent, $"{gen.Engine.C.TxUsedElements} TX used elements for {gen.Engine.C.Sent} frames");
        });
    }

    [Fact]
    public void FiveHundredNineRegionsAddedWithAddMemRegCarryTraffic()
    {
        using var be = new InProcessBackend();
        RunClean(be, Options(be.SocketPath) with { Regions = 509, MemoryMb = 64 }, (gen, _) =>
        {
            Assert.True((gen.AckedProtocolFeatures & ProtocolFeatures.ConfigureMemSlots) != 0);
            Assert.Equal(509, be.Server.CurrentSession!.Memory.RegionCount);
            Assert.Equal(509, gen.Frontend.Sent.Count(r => r == VhostUserRequest.AddMemReg));
            Assert.DoesNotContain(VhostUserRequest.SetMemTable, gen.Frontend.Sent);
        });
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(3, false)]
    [InlineData(2, true)]
    public void MemoryTableChangesUnderTrafficLoseAndCorruptNothing(int regions, bool memSlots)
    {
        using var be = new InProcessBackend();
        var o = Options(be.SocketPath) with { Regions = regions, MemSlots = memSlots, RemapIntervalMs = 5, DurationS = 0.6, FrameSize = 1500 };
        RunClean(be, o, (gen, r) =>
        {
            Assert.True(r.MemoryRemaps >= 5, $"only {r.MemoryRemaps} memory-table changes");
            // Every change was a real one: remapped (SET_MEM_TABLE) or added/removed (mem slots).
            Assert.True(be.Server.CurrentSession!.MemoryChanges >= r.MemoryRemaps);
        });
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void DirtyLogMarksExactlyThePagesTheBackendWrote(bool eventIdx, bool inOrder)
    {
        using var be = new InProcessBackend();
        RunClean(be, Options(be.SocketPath) with { DirtyLog = true, EventIdx = eventIdx, InOrder = inOrder, FrameSize = 200 }, (gen, r) =>
        {
            Assert.NotNull(be.Server.CurrentSession!.DirtyLog);
            Assert.True(r.DirtyPagesExpected > 0, "the check did not run");
            Assert.Equal(r.DirtyPagesExpected, r.DirtyPagesLogged);
            Assert.Equal(0, r.DirtyLogMismatches);
        });
    }

    [Fact]
    public void SendRarpPutsOneRarpFrameOnTheGuestsRx()
    {
        using var be = new InProcessBackend();
        RunClean(be, Options(be.SocketPath) with { SendRarp = true }, (_, r) => Assert.Equal(1, r.RarpReceived));
    }

    [Fact]
    public void NetSetMtuIsAckedAndKept()
    {
        using var be = new InProcessBackend();
        RunClean(be, Options(be.SocketPath) with { Mtu = 9000 }, (gen, _) =>
        {
            Assert.True(VirtioFeatures.Has(gen.AckedFeatures, VirtioFeatures.NetMtu));
            Assert.Equal(9000u, be.Server.CurrentSession!.Mtu);
        });
    }

    [Theory]
    [InlineData(HandshakeOrder.Qemu)]
    [InlineData(HandshakeOrder.Dpdk)]
    public void AfterReconnectsRingsResumeFromTheIndicesTheFrontendSends(HandshakeOrder order)
    {
        using var be = new InProcessBackend();
        RunClean(be, Options(be.SocketPath) with { Reconnects = 2, Order = order, QueueSize = 64 }, (gen, r) =>
        {
            Assert.Equal(2, r.ReconnectMs.Count);
            Assert.All(r.ReconnectMs, ms => Assert.True(ms >= 0));
            Assert.True(r.ConnectToFirstFrameMs >= 0);
            Assert.Equal(2, be.Server.SessionsServed);
            // The third session's rings started where the guest was, not at 0.
            Assert.True(be.Server.Vrings[1].Base > 0, "TX ring resumed at base 0");
            Assert.All(be.Server.Vrings.Take(2), v => Assert.False(v.ResyncedAtStart, $"vring {v.Index} did not resume at the base sent"));
        });
    }

    [Fact]
    public void ResetDeviceStopsEverythingAndTheDeviceStartsAgainOnTheSameConnection()
    {
        using var be = new InProcessBackend();
        RunClean(be, Options(be.SocketPath) with { ResetDevice = true }, (gen, _) =>
        {
            Assert.Contains(VhostUserRequest.ResetDevice, gen.Frontend.Sent);
            Assert.Equal(0, be.Server.SessionsServed);
            Assert.True(be.Server.Vrings[1].Base > 0);
        });
    }

    [Fact]
    public void ABrokenRingSignalsItsErrFdAndStatusSaysNeedsReset()
    {
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var gen = new LoadGenerator(Options(be.SocketPath));
            gen.Setup();
            var p = (PairDriver<SplitGuestRing>)gen.Pairs[0];
            Assert.True(Timeouts.WaitUntil(() => be.Server.Vrings[1].IsActive, Timeouts.Short));
            p.Tx.Ring.Post(0xFFFF); // a head beyond the ring: the device must refuse it, not crash
            p.Tx.Ring.PublishNoKick();
            EventFd.Signal(p.KickTx);
            Assert.True(Timeouts.WaitUntil(() => be.Server.Vrings[1].IsBroken, Timeouts.Short));
            Assert.True(Timeouts.WaitUntil(() => EventFd.Drain(p.ErrTx) > 0, Timeouts.Short), "no signal on the err fd");
            Assert.Equal((ulong)VirtioStatus.DeviceNeedsReset, gen.Frontend.GetStatus() & (ulong)VirtioStatus.DeviceNeedsReset);
        }, "broken ring");
    }
}

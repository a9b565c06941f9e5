using PerfLab.Backend.Devices;
using PerfLab.Backend.Server;
using PerfLab.Backend.Workers;
using PerfLab.LoadGen;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.LoadGen;

/// <summary>
/// The data path allocates nothing, proven on the thread that runs it: the back-end's worker
/// round and the load generator's send/receive step both run here, on the test thread, and
/// GC.GetAllocatedBytesForCurrentThread() must not move over many iterations after warm-up.
/// </summary>
public class ZeroAllocationTests
{
    [Theory]
    [InlineData(64, 32, false)]
    [InlineData(1500, 1, false)]
    [InlineData(64, 8, true)]
    public void BackendRoundAndLoadgenStepAllocateNothing(int size, int burst, bool eventIdxOff) =>
        AssertNoAllocation(o => o with { FrameSize = size, Burst = burst, EventIdx = !eventIdxOff });

    /// <summary>The same with the negotiable data-path features on: in-order batches with dirty
    /// logging of buffers and used rings (fast path), then indirect tables with mergeable frames
    /// over several buffers (general path).</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FeaturePathsAllocateNothing(bool inOrderAndDirtyLog) => AssertNoAllocation(o => inOrderAndDirtyLog
        ? o with { InOrder = true, DirtyLog = true }
        : o with { Indirect = true, Mergeable = true, FrameSize = 300, RxBufSize = 128, Burst = 4, MaxInFlight = 8 });

    /// <summary>Packed rings on both sides: the burst fast path, then indirect tables with
    /// mergeable frames (general path), then dirty logging of the descriptor ring, then IN_ORDER
    /// batches (one used descriptor per TX burst) at queue 1024, in sink mode too.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void PackedPathsAllocateNothing(int variant) => AssertNoAllocation(o => variant switch
    {
        0 => o with { Packed = true },
        1 => o with { Packed = true, Indirect = true, Mergeable = true, FrameSize = 300, RxBufSize = 128, Burst = 4, MaxInFlight = 8 },
        2 => o with { Packed = true, DirtyLog = true, EventIdx = false },
        3 => o with { Packed = true, InOrder = true, QueueSize = 1024 },
        _ => o with { Packed = true, InOrder = true, Indirect = true, Mergeable = true, FrameSize = 300, RxBufSize = 128, Burst = 4, MaxInFlight = 8 },
    });

    /// <summary>Packed IN_ORDER TX batches through the sink (one used descriptor per burst).</summary>
    [Fact]
    public void PackedInOrderSinkAllocatesNothing() =>
        AssertNoAllocation(o => o with { TxOnly = true, Packed = true, InOrder = true, QueueSize = 1024 }, NetMode.Sink);

    /// <summary>The back-end's sink and copy modes, fed by a transmit-only guest (fast path;
    /// then indirect tables, which take the general path).</summary>
    [Theory]
    [InlineData(NetMode.Sink, false, CopySlotUse.Reuse)]
    [InlineData(NetMode.Copy, false, CopySlotUse.Reuse)]
    [InlineData(NetMode.Copy, true, CopySlotUse.Reuse)]
    [InlineData(NetMode.Copy, false, CopySlotUse.Rotate)]
    [InlineData(NetMode.Copy, true, CopySlotUse.Rotate)]
    public void SinkAndCopyModesAllocateNothing(NetMode mode, bool indirect, CopySlotUse slots) =>
        AssertNoAllocation(o => o with { TxOnly = true, Indirect = indirect }, mode, copySlots: slots);

    /// <summary>The lossy open loop (frames that find no room are counted dropped) against a
    /// back-end that drops when the guest has no RX buffer, on both ring layouts.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LossyOpenLoopAllocatesNothing(bool packed) =>
        AssertNoAllocation(o => o with { Lossy = true, RatePps = 20e6, Burst = 8, Packed = packed }, dropWhenFull: true);

    /// <summary>TX buffers returned one burst late (--tx-return deferred) or by the auto rule
    /// (guest bursts of 32: held; of 8: returned at once),
    /// split and packed.</summary>
    [Theory]
    [InlineData(NetMode.Sink, false, TxReturn.Deferred, 32)]
    [InlineData(NetMode.Loopback, false, TxReturn.Deferred, 32)]
    [InlineData(NetMode.Loopback, true, TxReturn.Deferred, 32)]
    [InlineData(NetMode.Sink, false, TxReturn.Auto, 32)]
    [InlineData(NetMode.Sink, false, TxReturn.Auto, 8)]
    [InlineData(NetMode.Loopback, false, TxReturn.Auto, 32)]
    [InlineData(NetMode.Loopback, true, TxReturn.Auto, 32)]
    public void HeldTxReturnAllocatesNothing(NetMode mode, bool packed, TxReturn txReturn, int burst) =>
        AssertNoAllocation(o => o with { TxOnly = mode != NetMode.Loopback, Packed = packed, Burst = burst, QueueSize = 1024 }, mode, txReturn);

    private static void AssertNoAllocation(Func<LoadGenOptions, LoadGenOptions> configure, NetMode mode = NetMode.Loopback, TxReturn txReturn = TxReturn.Immediate, bool dropWhenFull = false,
        CopySlotUse copySlots = CopySlotUse.Reuse) =>
        Timeouts.Run(TimeSpan.FromSeconds(120), () => NoAllocation(configure, mode, txReturn, dropWhenFull, copySlots), "zero-allocation loop");

    private static void NoAllocation(Func<LoadGenOptions, LoadGenOptions> configure, NetMode mode, TxReturn txReturn, bool dropWhenFull, CopySlotUse copySlots)
    {
        using var dir = new TempDir();
        var o = new BackendOptions
        {
            SocketPath = dir.File("v.sock"),
            StatsInterval = 0,
            Device = new NetDeviceOptions { MaxQueuePairs = 1, Mode = mode, TxReturn = txReturn, Backpressure = !dropWhenFull, CopySlots = copySlots, Poll = new PollOptions { Mode = PollMode.Interrupt } },
        };
        // No worker threads: the test thread drives the data plane itself.
        using var server = new VhostUserServer(o, startWorkers: false);
        var serverThread = new Thread(server.Run) { IsBackground = true };
        serverThread.Start();
        try
        {
            using var gen = new LoadGenerator(configure(new LoadGenOptions
            {
                SocketPath = o.SocketPath,
                Poll = new PollOptions { Mode = PollMode.Interrupt },
                ConnectTimeoutS = 5,
            }));
            gen.Setup();
            Worker worker = server.Device.Workers[0];
            Assert.True(Timeouts.WaitUntil(() => worker.ActivePairCount == 1, Timeouts.Short));
            var engine = gen.Engine!;
            engine.Measuring = true;
            engine.StartSchedule();

            void Iterate(int n)
            {
                for (int i = 0; i < n; i++)
                {
                    engine.Step();
                    worker.DoWork();
                    if ((i & 1023) == 0)
                    {
                        // The notification paths run too: arm (fence, re-check) and disarm.
                        worker.DisarmAll();
                        engine.DisarmAll();
                    }
                }
            }

            // Warm up through two tiering rounds so tier-1 code is what we measure.
            for (int round = 0; round < 3; round++)
            {
                Iterate(50_000);
                Thread.Sleep(300);
            }
            long sent0 = engine.C.Sent;
            long before = GC.GetAllocatedBytesForCurrentThread();
            Iterate(200_000);
            long after = GC.GetAllocatedBytesForCurrentThread();
            Assert.True(engine.C.Sent - sent0 > 100_000, $"only {engine.C.Sent - sent0} frames moved");
            Assert.Equal(0, engine.C.SeqErrors);
            Assert.Equal(0L, after - before);
        }
        finally
        {
            server.Stop();
            serverThread.Join(Timeouts.Short);
        }
    }
}

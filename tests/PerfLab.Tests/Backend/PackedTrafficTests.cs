using PerfLab.LoadGen;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Protocol;
using Xunit;

namespace PerfLab.Tests.Backend;

/// <summary>
/// The packed virtqueue end to end: our load generator's packed driver against our back-end's
/// packed device, in-process over a real socket, with every feature that combines with it.
/// (QemuGuestTests runs a Linux guest's own packed driver against the back-end.)
/// </summary>
public class PackedTrafficTests
{
    public static TheoryData<string> Cases => new()
    {
        "plain", "no-event-idx", "indirect", "mergeable", "mergeable-indirect", "two-pairs",
        "remap", "mem-slots-remap", "dirty-log", "reconnect", "dpdk-order",
    };

    private static LoadGenOptions Configure(string name, LoadGenOptions o) => name switch
    {
        "plain" => o,
        "no-event-idx" => o with { EventIdx = false },
        "indirect" => o with { Indirect = true },
        "mergeable" => o with { Mergeable = true, RxBufSize = 256, FrameSize = 1000 },
        "mergeable-indirect" => o with { Mergeable = true, Indirect = true, RxBufSize = 256, FrameSize = 700 },
        "two-pairs" => o with { Queues = 2 },
        "remap" => o with { Regions = 2, RemapIntervalMs = 5, DurationS = 0.5, FrameSize = 1500 },
        "mem-slots-remap" => o with { Regions = 2, MemSlots = true, RemapIntervalMs = 5, DurationS = 0.5 },
        "dirty-log" => o with { DirtyLog = true, FrameSize = 200 },
        "reconnect" => o with { Reconnects = 2, QueueSize = 64 },
        "dpdk-order" => o with { Order = HandshakeOrder.Dpdk },
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void PackedRingsCarryEveryFrameIntact(string name)
    {
        using var be = new InProcessBackend();
        LoadGenOptions o = Configure(name, Traffic.Quick(be.SocketPath) with { Packed = true });
        Timeouts.Run(Timeouts.Process, () =>
        {
            using var gen = new LoadGenerator(o);
            gen.Setup();
            Assert.True(VirtioFeatures.Has(gen.AckedFeatures, VirtioFeatures.RingPacked));
            LoadGenResult r = gen.Run();
            Traffic.AssertIntact(r);
            Assert.All(be.Server.Vrings.Take(2 * o.Queues), v => Assert.True(v.IsPacked || !v.Started));
            if (name == "dirty-log")
            {
                Assert.True(r.DirtyPagesExpected > 0, "the dirty-log check did not run");
                Assert.Equal(0, r.DirtyLogMismatches);
            }
            if (name == "reconnect")
            {
                Assert.Equal(2, r.ReconnectMs.Count);
                Assert.All(r.ReconnectMs, ms => Assert.True(ms >= 0, "a reconnect got no frame back"));
            }
            if (name == "two-pairs")
            {
                Assert.All(r.ReceivedPerPair, n => Assert.True(n > 0));
            }
            if (name.Contains("remap"))
            {
                Assert.True(r.MemoryRemaps >= 3, $"only {r.MemoryRemaps} memory-table changes");
            }
        }, $"packed {name}");
    }

    /// <summary>
    /// A packed ring has no used.idx in memory: the front-end resumes it at the base its driver
    /// computes from its own used position. That position must include every used descriptor
    /// the device wrote before the connection closed. Before the drain waited for TX
    /// completions as well as for the frames on RX, about one reconnect in 30 resumed the TX
    /// ring at a slot the old session had already marked used, and the device then waited
    /// there until the connect timeout. Forty reconnects catch that almost every time.
    /// </summary>
    [Fact]
    public void EveryReconnectResumesBothPackedRingsWhereTheDeviceLeftThem()
    {
        using var be = new InProcessBackend();
        LoadGenOptions o = Traffic.Quick(be.SocketPath) with { Packed = true, Reconnects = 40, ConnectTimeoutS = 2, DurationS = 0.1 };
        Timeouts.Run(Timeouts.Process, () =>
        {
            using var gen = new LoadGenerator(o);
            gen.Setup();
            LoadGenResult r = gen.Run();
            Traffic.AssertIntact(r);
            Assert.Equal(40, r.ReconnectMs.Count);
            int stalled = r.ReconnectMs.Count(ms => ms < 0);
            Assert.True(stalled == 0, $"{stalled} of 40 reconnects got no frame back within {o.ConnectTimeoutS} s");
            Assert.All(gen.Pairs, p => Assert.Equal(p.QueueSize, p.TxFreeCount));
        }, "packed reconnects");
    }
}

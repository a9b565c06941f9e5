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
}

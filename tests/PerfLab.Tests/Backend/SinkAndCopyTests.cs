using PerfLab.Backend.Devices;
using PerfLab.LoadGen;
using PerfLab.LoadGen.Guest;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Polling;
using Xunit;

namespace PerfLab.Tests.Backend;

/// <summary>
/// The back-end's one-way modes, in-process over a real UNIX socket with a transmit-only guest:
/// sink counts every frame without reading it; copy also copies each frame once into the
/// back-end's own slots (the like-for-like of the C loopback and of DPDK's dequeue).
/// </summary>
public class SinkAndCopyTests
{
    [Theory]
    [InlineData(NetMode.Sink, 64, false, CopySlotUse.Reuse)]
    [InlineData(NetMode.Copy, 64, false, CopySlotUse.Reuse)]
    [InlineData(NetMode.Copy, 1500, false, CopySlotUse.Reuse)]
    [InlineData(NetMode.Copy, 300, true, CopySlotUse.Reuse)]
    [InlineData(NetMode.Copy, 64, false, CopySlotUse.Rotate)]
    [InlineData(NetMode.Copy, 300, true, CopySlotUse.Rotate)]
    public void EveryFrameTheGuestSendsIsTakenAndCounted(NetMode mode, int size, bool indirect, CopySlotUse slots)
    {
        using var be = new InProcessBackend(new NetDeviceOptions { MaxQueuePairs = 1, Mode = mode, CopySlots = slots, Poll = new PollOptions { Mode = PollMode.Interrupt } });
        Timeouts.Run(Timeouts.Process, () =>
        {
            using var gen = new LoadGenerator(Traffic.Quick(be.SocketPath) with { TxOnly = true, Verify = false, FrameSize = size, Indirect = indirect });
            gen.Setup();
            LoadGenResult r = gen.Run();
            Assert.True(r.Sent > 100, $"only {r.Sent} frames sent");
            Assert.Equal(0, r.RingErrors);
            // The back-end completed (and counted) every frame the guest sent, and no more.
            Assert.True(Timeouts.WaitUntil(() => be.Server.Vrings[1].Counters.Packets == gen.Engine!.C.Sent, Timeouts.Short),
                $"back-end counted {be.Server.Vrings[1].Counters.Packets} of {gen.Engine!.C.Sent} frames");
            Assert.Equal(0, be.Server.Vrings[1].Counters.Faults);
            QueuePair pair = be.Server.Device.Pairs[0];
            if (mode == NetMode.Copy)
            {
                // Each slot holds a frame as the guest wrote it: its MACs, ethertype and probe magic.
                Span<byte> f = pair.CopySlot(0)[..size];
                Assert.True(f[..6].SequenceEqual(FrameLayout.DstMac), "slot 0 does not hold a frame");
                Assert.Equal(0x88, f[12]);
                Assert.Equal(0xB5, f[13]);
                Assert.Equal(FrameLayout.Magic, BitConverter.ToUInt32(f[FrameLayout.ProbeOffset..]));
                Assert.Equal(FrameLayout.Pattern(size - 1), f[size - 1]);
                if (slots == CopySlotUse.Reuse)
                {
                    // Slots start on a cache line, one line apart beyond 2 KiB (one L1 set each).
                    Assert.Equal(0, SlotAddress(pair, 0) % 64);
                    Assert.Equal(QueuePair.CopySlotSize + 64, SlotAddress(pair, 1) - SlotAddress(pair, 0));
                }
            }
            else
            {
                Assert.Empty(pair.CopySlots); // sink never allocates the slots, nor reads a frame
            }
        }, "one-way traffic");
    }

    private static unsafe long SlotAddress(QueuePair p, int i)
    {
        fixed (byte* b = p.CopySlot(i))
        {
            return (long)b;
        }
    }
}

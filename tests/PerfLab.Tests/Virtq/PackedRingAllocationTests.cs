using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

/// <summary>
/// Both sides of the packed ring allocate nothing, proven on the thread that runs them:
/// GC.GetAllocatedBytesForCurrentThread() must not move over many iterations after warm-up.
/// </summary>
public unsafe class PackedRingAllocationTests
{
    [Fact]
    public void RingLoopsAllocateNothing()
    {
        using var rp = new PackedRingPair(256, eventIdx: true);
        var burst = new BufRef[32];
        ulong buf = rp.Buffer(64 * 64);
        PackedDesc[] chain = [new() { Addr = buf, Len = 8 }, new() { Addr = buf + 64, Len = 8 }, new() { Addr = buf + 128, Len = 8 }];
        ulong table = rp.Ram.Alloc(32, 16);
        var t = new Span<PackedDesc>(rp.Ram.Host(table), 2);
        t[0] = new PackedDesc { Addr = buf, Len = 16 };
        t[1] = new PackedDesc { Addr = buf + 64, Len = 16 };
        AllocationProbe.AssertNone(n => Iterate(rp, burst, chain, buf, table, n), 20_000, 50_000);
    }

    [Fact]
    public void InOrderBoundRunsAllocateNothing()
    {
        using var rp = new PackedRingPair(1024, inOrder: true, ramBytes: 8 << 20);
        var burst = new BufRef[32];
        ulong buf = rp.Buffer(1024 * 64);
        for (ushort id = 0; id < 1024; id++)
        {
            rp.Driver.Bind(id, buf + 64UL * id, 64, 0);
        }
        AllocationProbe.AssertNone(n =>
        {
            int errors = 0;
            for (int i = 0; i < n; i++)
            {
                for (int k = 0; k < burst.Length; k++)
                {
                    errors += rp.Driver.PostBound(rp.Driver.NextAvail) ? 0 : 1;
                }
                rp.Driver.Publish();
                int got = rp.Device.TakeSingles(rp.Memory, burst, deviceWrites: false);
                rp.Device.PushUsedBurstEmpty(burst.AsSpan(0, got));
                rp.Device.Publish(canCall: true);
                rp.Driver.PrefetchUsed();
                errors += rp.Driver.TakeUsedInOrder(burst.Length, out bool fault) == got && !fault && rp.Driver.InFlight == 0 ? 0 : 1;
            }
            return errors;
        }, 20_000, 50_000);
    }

    private static int Iterate(PackedRingPair rp, BufRef[] burst, PackedDesc[] chain, ulong buf, ulong table, int n)
    {
        int errors = 0;
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < burst.Length; k++)
            {
                rp.Driver.Post((ushort)k, buf + (ulong)(64 * k), 64, deviceWrites: false);
            }
            rp.Driver.Publish();
            int got = rp.Device.TakeSingles(rp.Memory, burst, deviceWrites: false);
            errors += got == burst.Length ? 0 : 1;
            uint mark = rp.Device.MarkPosition();
            rp.Device.RewindBurst(mark, 0);
            rp.Device.PushUsedBurstEmpty(burst.AsSpan(0, got));
            rp.Device.Publish(canCall: true);
            while (rp.Driver.TryTakeUsed(out _, out _))
            {
            }

            rp.Driver.PostChain(40, chain);
            rp.Driver.PostIndirect(41, table, 2);
            rp.Driver.PublishNoKick();
            errors += rp.Device.Available() == 2 ? 0 : 1;
            while (rp.Device.TryPop(rp.Memory, ref rp.Chain, deviceWrites: false) == PopStatus.Ok)
            {
                rp.Device.PushUsed(rp.Chain.Id, 0, rp.Chain.SlotCount);
            }
            rp.Device.Publish(canCall: true);
            while (rp.Driver.TryTakeUsed(out _, out _))
            {
            }
            errors += rp.Driver.InFlight == 0 && rp.Device.Fault == RingFault.None ? 0 : 1;

            // Bound posts (each id bound to its slot's buffer) and the prefetch.
            for (int k = 0; k < 8; k++)
            {
                ushort id = rp.Driver.NextAvail;
                if (!rp.Driver.IsInFlight(id))
                {
                    rp.Driver.Bind(id, buf + (ulong)(64 * k), 64, 0);
                }
                errors += rp.Driver.PostBound(id) ? 0 : 1;
            }
            rp.Driver.Publish();
            rp.Driver.PrefetchUsed();
            int taken = rp.Device.TakeSingles(rp.Memory, burst.AsSpan(0, 8), deviceWrites: false);
            rp.Device.PushUsedBurstEmpty(burst.AsSpan(0, taken));
            rp.Device.Publish(canCall: true);
            while (rp.Driver.TryTakeUsed(out _, out _))
            {
            }
            errors += rp.Driver.InFlight == 0 ? 0 : 1;

            if ((i & 255) == 0)
            {
                // The notification paths too: arm (fence, re-check) and disarm.
                errors += rp.Device.EnableKicks() ? 1 : 0;
                rp.Device.DisableKicks();
                errors += rp.Driver.EnableInterrupts(1) ? 1 : 0;
                rp.Driver.DisableInterrupts();
            }
        }
        return errors;
    }
}

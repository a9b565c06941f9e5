using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

/// <summary>
/// The packed ring's dequeue of a cache line's four descriptors at once (perflab-backend
/// --packed-dequeue fours; docs/envelope.md): on the same ring contents it takes, refuses and
/// reports exactly what the one-at-a-time path does, wherever the malformed descriptor sits in
/// a line and wherever the burst starts (line-aligned or not, at the ring's end, on a ring
/// whose size is not a multiple of four); a descriptor whose flags are not available is never
/// taken, whatever its other fields say; and laps of bursts against our driver return every
/// buffer exactly once.
/// </summary>
public unsafe class PackedDequeueFoursTests
{
    public enum Bad
    {
        None,
        IdOutOfRange,
        ZeroLength,
        OutsideMemory,
        AddressOverflows,
        Next,
        Indirect,
        WrongDirection,
        NotAvailable,
        NotAvailableWithJunk, // the flags say "not yet"; id, len and address are garbage
    }

    private const int Burst = 12; // three lines when aligned

    [Theory]
    [InlineData(256, false)]
    [InlineData(256, true)]
    [InlineData(1024, false)]
    [InlineData(250, false)]
    [InlineData(250, true)]
    public void FoursTakeRefuseAndReportExactlyAsSingles(int size, bool deviceWrites)
    {
        foreach (Bad bad in Enum.GetValues<Bad>())
        {
            foreach (int start in new[] { 0, 1, 3, size - 6 })
            {
                for (int k = 0; k < 8; k++)
                {
                    if (bad == Bad.None && k > 0)
                    {
                        break;
                    }
                    Compare(size, deviceWrites, bad, start, k);
                }
            }
        }
    }

    private static void Compare(int size, bool deviceWrites, Bad bad, int start, int k)
    {
        using var rp = new PackedRingPair((ushort)size, ramBytes: 1 << 20);
        ulong buf = rp.Buffer(Burst * 64);
        Advance(rp, start, buf);
        var descs = new PackedDesc[Burst];
        for (int j = 0; j < Burst; j++)
        {
            descs[j] = new PackedDesc
            {
                Addr = buf + (ulong)(64 * j),
                Len = 64,
                Id = (ushort)((start + j) % size),
                Flags = deviceWrites ? PackedDesc.FlagWrite : (ushort)0,
            };
        }
        ref PackedDesc b = ref descs[k];
        switch (bad)
        {
            case Bad.IdOutOfRange: b.Id = (ushort)size; break;
            case Bad.ZeroLength: b.Len = 0; break;
            case Bad.OutsideMemory: b.Addr = 1UL << 40; break;
            case Bad.AddressOverflows: b.Addr = ulong.MaxValue - 10; break;
            case Bad.Next: b.Flags |= PackedDesc.FlagNext; break;
            case Bad.Indirect: b.Flags = PackedDesc.FlagIndirect; b.Len = 32; break;
            case Bad.WrongDirection: b.Flags ^= PackedDesc.FlagWrite; break;
            case Bad.NotAvailableWithJunk: b.Id = 0xffff; b.Len = 0; b.Addr = ulong.MaxValue; break;
        }
        Assert.True(rp.Driver.PostRaw(descs));
        rp.Driver.PublishNoKick();
        if (bad is Bad.NotAvailable or Bad.NotAvailableWithJunk)
        {
            // Flags of the other lap: available later, not now.
            rp.Desc((start + k) % size).Flags ^= PackedDesc.WrapMask;
        }
        string at = $"{bad} at {k}, start {start}";

        uint mark = rp.Device.MarkPosition();
        var one = new BufRef[Burst];
        int nOne = rp.Device.TakeSingles(rp.Memory, one, deviceWrites, fours: false);
        (RingFault fault, ulong value, ushort next, bool wrap) singles = (rp.Device.Fault, rp.Device.FaultValue, rp.Device.NextAvail, rp.Device.AvailWrap);

        rp.Device.Fault = RingFault.None;
        rp.Device.RewindTo(mark);
        var four = new BufRef[Burst];
        int nFour = rp.Device.TakeSingles(rp.Memory, four, deviceWrites, fours: true);

        Assert.True(nOne == (bad == Bad.None ? Burst : k), at); // everything before the bad one, nothing after
        Assert.True(nOne == nFour, at);
        Assert.True(singles == (rp.Device.Fault, rp.Device.FaultValue, rp.Device.NextAvail, rp.Device.AvailWrap), at);
        Assert.Equal(bad == Bad.IdOutOfRange ? RingFault.PackedBadId : RingFault.None, rp.Device.Fault);
        for (int j = 0; j < nOne; j++)
        {
            Assert.True(one[j].Ptr == four[j].Ptr && one[j].Len == four[j].Len && one[j].Id == four[j].Id
                && one[j].Slots == 1 && four[j].Slots == 1 && one[j].Gpa == four[j].Gpa, at);
        }
    }

    /// <summary>Rings of random descriptors (PackedRingMalformedTests' generator: addresses at
    /// and outside the edges of two regions, random lengths, ids and flags) from random starts:
    /// fours and singles take the same buffers and report the same fault, and count the same.</summary>
    [Theory]
    [InlineData(16)]
    [InlineData(18)]
    public void RandomRingsGiveTheSameResultInFoursAsInSingles(int size)
    {
        using var rp = new PackedRingPair((ushort)size, ramBytes: 2 << 20, regions: 2);
        var rng = new Random(size * 7919);
        ulong table = rp.Ram.Alloc(16 * 64, 16);
        ulong ram0 = rp.Ram.Regions[0].Gpa;
        ulong ramEnd = rp.Ram.Regions[^1].Gpa + rp.Ram.Regions[^1].Size;
        var one = new BufRef[size];
        var four = new BufRef[size];
        int taken = 0, faults = 0;
        for (int iter = 0; iter < 3000; iter++)
        {
            bool wrap = rng.Next(2) == 0;
            bool dir = rng.Next(2) == 0;
            for (int i = 0; i < size; i++)
            {
                rp.Desc(i) = PackedRingMalformedTests.RandomDesc(rng, PackedDesc.AvailBits(wrap), dir, table, ram0, ramEnd);
                if (rng.Next(3) == 0)
                {
                    rp.Desc(i).Flags &= unchecked((ushort)~PackedDesc.FlagNext); // more runs of single buffers
                }
            }
            ushort start = (ushort)rng.Next(size);
            rp.Attach(new PackedBase(start, wrap, start, wrap).Encode());
            int n = rng.Next(1, size + 1);
            Assert.Equal(rp.Device.Scan(fours: false), rp.Device.Scan(fours: true));
            uint mark = rp.Device.MarkPosition();
            int nOne = rp.Device.TakeSingles(rp.Memory, one.AsSpan(0, n), dir, fours: false);
            var singles = (rp.Device.Fault, rp.Device.FaultValue, rp.Device.NextAvail, rp.Device.AvailWrap);
            rp.Device.Fault = RingFault.None;
            rp.Device.RewindTo(mark);
            int nFour = rp.Device.TakeSingles(rp.Memory, four.AsSpan(0, n), dir, fours: true);
            Assert.Equal(nOne, nFour);
            Assert.Equal(singles, (rp.Device.Fault, rp.Device.FaultValue, rp.Device.NextAvail, rp.Device.AvailWrap));
            for (int j = 0; j < nOne; j++)
            {
                Assert.True(one[j].Ptr == four[j].Ptr && one[j].Len == four[j].Len && one[j].Id == four[j].Id && one[j].Gpa == four[j].Gpa);
            }
            taken += nOne;
            faults += rp.Device.Fault != RingFault.None ? 1 : 0;
        }
        // The generator must reach lines taken whole and faults, or it tests nothing.
        Assert.True(taken > 3000, $"only {taken} buffers taken");
        Assert.True(faults > 100, $"only {faults} faults");
    }

    [Theory]
    [InlineData(256)]
    [InlineData(1024)]
    [InlineData(250)]
    [InlineData(32768)]
    public void LapsOfBurstsAndChainsComeBackExactlyOnce(int size)
    {
        using var rp = new PackedRingPair((ushort)size, ramBytes: 8 << 20);
        ulong buf = rp.Buffer(64 * 64);
        PackedDesc[] chain = [new() { Addr = buf, Len = 8 }, new() { Addr = buf + 64, Len = 56 }];
        var burst = new BufRef[32];
        var rng = new Random(size);
        ushort nextId = 0;
        for (int round = 0; round < Math.Max(3 * size / 16, 200); round++)
        {
            int n = rng.Next(1, burst.Length + 1);
            int chainAt = rng.Next(0, 4) == 0 ? rng.Next(0, n) : -1; // a chain now and then: lines out of step
            for (int j = 0; j < n; j++)
            {
                ushort id = nextId;
                nextId = (ushort)((nextId + 1) % size);
                Assert.True(j == chainAt
                    ? rp.Driver.PostChain(id, chain)
                    : rp.Driver.Post(id, buf + (ulong)(64 * j), 64, deviceWrites: false));
            }
            rp.Driver.PublishNoKick();
            // The line-at-once count is the one-at-a-time count.
            Assert.Equal(rp.Device.Scan(fours: false), rp.Device.Scan(fours: true));

            int taken = 0;
            ushort expect = (ushort)((nextId - n + size) % size);
            while (taken < n)
            {
                int got = rp.Device.TakeSingles(rp.Memory, burst.AsSpan(0, n - taken), deviceWrites: false, fours: true);
                for (int j = 0; j < got; j++)
                {
                    Assert.Equal(expect, burst[j].Id);
                    expect = (ushort)((expect + 1) % size);
                }
                rp.Device.PushUsedBurstEmpty(burst.AsSpan(0, got));
                taken += got;
                if (taken < n)
                {
                    Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, deviceWrites: false));
                    Assert.Equal(expect, rp.Chain.Id);
                    expect = (ushort)((expect + 1) % size);
                    rp.Device.PushUsed(rp.Chain.Id, 0, rp.Chain.SlotCount);
                    taken++;
                }
            }
            rp.Device.Publish(canCall: false);
            ushort want = (ushort)((nextId - n + size) % size);
            for (int j = 0; j < n; j++)
            {
                Assert.True(rp.Driver.TryTakeUsed(out ushort id, out _));
                Assert.Equal(want, id);
                want = (ushort)((want + 1) % size);
            }
            Assert.False(rp.Driver.HasUsed());
            Assert.Equal(0, rp.Driver.InFlight);
        }
        Assert.Equal(RingFault.None, rp.Device.Fault);
        Assert.Equal(rp.Driver.NextUsed, rp.Device.NextUsed);
    }

    [Fact]
    public void ScanCountsChainsAndStopsAtTheFirstUnavailableSlotAsSingles()
    {
        using var rp = new PackedRingPair(16, ramBytes: 1 << 20);
        ulong buf = rp.Buffer(16 * 64);
        PackedDesc[] chain = [new() { Addr = buf, Len = 8 }, new() { Addr = buf + 64, Len = 8 }, new() { Addr = buf + 128, Len = 8 }];
        for (ushort id = 0; id < 5; id++)
        {
            Assert.True(rp.Driver.Post(id, buf + 64UL * id, 64, deviceWrites: false));
        }
        Assert.True(rp.Driver.PostChain(5, chain)); // slots 5-7: one chain
        for (ushort id = 8; id < 14; id++)
        {
            Assert.True(rp.Driver.Post(id, buf + 64UL * id, 64, deviceWrites: false));
        }
        rp.Driver.PublishNoKick();
        Assert.Equal(12, rp.Device.Scan(fours: false)); // 5 + 1 chain + 6
        Assert.Equal(12, rp.Device.Scan(fours: true));
        rp.Desc(10).Flags ^= PackedDesc.WrapMask; // not yet available: the count stops there
        Assert.Equal(8, rp.Device.Scan(fours: false));
        Assert.Equal(8, rp.Device.Scan(fours: true));
    }

    /// <summary>Moves both sides to <paramref name="slot"/> through full round trips.</summary>
    private static void Advance(PackedRingPair rp, int slot, ulong buf)
    {
        var burst = new BufRef[32];
        while (rp.Driver.NextAvail != slot)
        {
            int n = Math.Min(burst.Length, (slot - rp.Driver.NextAvail + rp.Size) % rp.Size);
            for (int j = 0; j < n; j++)
            {
                Assert.True(rp.Driver.Post(rp.Driver.NextAvail, buf + (ulong)(64 * j), 64, deviceWrites: false));
            }
            rp.Driver.PublishNoKick();
            Assert.Equal(n, rp.Device.TakeSingles(rp.Memory, burst.AsSpan(0, n), deviceWrites: false, fours: false));
            rp.Device.PushUsedBurstEmpty(burst.AsSpan(0, n));
            rp.Device.Publish(canCall: false);
            while (rp.Driver.TryTakeUsed(out _, out _))
            {
            }
        }
    }
}

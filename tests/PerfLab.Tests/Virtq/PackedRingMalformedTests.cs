using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

/// <summary>
/// A hostile driver: every way a packed buffer can be malformed breaks the ring with the right
/// fault, takes nothing, and keeps it broken; random rings never make the device touch memory
/// outside guest RAM, and every call returns.
/// </summary>
public unsafe class PackedRingMalformedTests
{
    public enum Bad
    {
        ChainLongerThanTheQueue,
        ChainWithUnavailableSlot,
        IndirectNested,
        IndirectLenNotMultipleOf16,
        IndirectLenZero,
        IndirectWithNext,
        IndirectAfterNext,
        IndirectNotNegotiated,
        IndirectTableOutsideMemory,
        IndirectEntryOutsideMemory,
        IndirectEntryWrongDirection,
        IndirectTooManySegments,
        DescOutsideMemory,
        DescAddressOverflows,
        DescRunsPastTheEndOfRam,
        WrongDirection,
        WrongDirectionInChain,
        IdOutOfRange,
        IdOutOfRangeOnChain,
        ZeroLength,
    }

    [Theory]
    [MemberData(nameof(AllCases))]
    public void MalformedBufferBreaksTheRingWithItsFault(Bad bad, bool burstFirst)
    {
        using var rp = new PackedRingPair(8, indirect: bad != Bad.IndirectNotNegotiated, ramBytes: 2 << 20);
        RingFault expected = Craft(rp, bad);
        rp.Driver.PublishNoKick();
        Assert.True(rp.Device.Available() >= 1); // the head is available: at least one buffer
        if (burstFirst)
        {
            Span<BufRef> burst = stackalloc BufRef[8];
            Assert.Equal(0, rp.Device.TakeSingles(rp.Memory, burst, deviceWrites: false));
        }
        Assert.Equal(PopStatus.Broken, rp.Device.TryPop(rp.Memory, ref rp.Chain, deviceWrites: false));
        Assert.Equal(expected, rp.Device.Fault);
        Assert.Equal(0, rp.Device.NextAvail);                 // nothing taken
        Assert.Equal(PopStatus.Broken, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        Assert.Equal(-1, rp.Device.Available());
        Assert.Equal(0, rp.Device.TakeSingles(rp.Memory, new BufRef[4], false));
        Assert.Equal(expected, rp.Device.Fault);             // and it stays broken
    }

    public static TheoryData<Bad, bool> AllCases()
    {
        var d = new TheoryData<Bad, bool>();
        foreach (Bad b in Enum.GetValues<Bad>())
        {
            d.Add(b, false);
            d.Add(b, true);
        }
        return d;
    }

    private static RingFault Craft(PackedRingPair rp, Bad bad)
    {
        ulong buf = rp.Buffer(256);
        ulong table = rp.Ram.Alloc(16 * 1025, 16);
        var t = new Span<PackedDesc>(rp.Ram.Host(table), 1025);
        const ushort Next = PackedDesc.FlagNext, Write = PackedDesc.FlagWrite, Indirect = PackedDesc.FlagIndirect;
        ulong ramEnd = rp.Ram.Regions[^1].Gpa + rp.Ram.Regions[^1].Size;
        PackedDesc D(ulong addr, uint len, ushort flags = 0, ushort id = 0) => new() { Addr = addr, Len = len, Flags = flags, Id = id };
        void Raw(params PackedDesc[] descs) => Assert.True(rp.Driver.PostRaw(descs));
        switch (bad)
        {
            case Bad.ChainLongerThanTheQueue:
                Raw(Enumerable.Range(0, 8).Select(_ => D(buf, 8, Next)).ToArray());
                return RingFault.ChainTooLong;
            case Bad.ChainWithUnavailableSlot:
                Raw(D(buf, 8, Next)); // slot 1 stays zero: not available
                return RingFault.PackedChainIncomplete;
            case Bad.IndirectNested:
                t[0] = D(buf, 8);
                t[1] = D(table, 32, Indirect);
                Raw(D(table, 32, Indirect));
                return RingFault.IndirectNested;
            case Bad.IndirectLenNotMultipleOf16:
                Raw(D(table, 24, Indirect));
                return RingFault.IndirectBadLength;
            case Bad.IndirectLenZero:
                Raw(D(table, 0, Indirect));
                return RingFault.IndirectBadLength;
            case Bad.IndirectWithNext:
                t[0] = D(buf, 8);
                Raw(D(table, 16, Indirect | Next), D(buf, 8));
                return RingFault.IndirectWithNext;
            case Bad.IndirectAfterNext:
                t[0] = D(buf, 8);
                Raw(D(buf, 8, Next), D(table, 16, Indirect));
                return RingFault.IndirectWithNext;
            case Bad.IndirectNotNegotiated:
                t[0] = D(buf, 8);
                Raw(D(table, 16, Indirect));
                return RingFault.IndirectNotNegotiated;
            case Bad.IndirectTableOutsideMemory:
                Raw(D(0xdead_0000, 32, Indirect));
                return RingFault.IndirectOutsideMemory;
            case Bad.IndirectEntryOutsideMemory:
                t[0] = D(buf, 8);
                t[1] = D(0xdead_0000, 8);
                Raw(D(table, 32, Indirect));
                return RingFault.DescOutsideMemory;
            case Bad.IndirectEntryWrongDirection:
                t[0] = D(buf, 8);
                t[1] = D(buf, 8, Write);
                Raw(D(table, 32, Indirect));
                return RingFault.WrongDirection;
            case Bad.IndirectTooManySegments:
                for (int i = 0; i < 1025; i++)
                {
                    t[i] = D(buf, 1);
                }
                Raw(D(table, 16 * 1025, Indirect));
                return RingFault.TooManySegments;
            case Bad.DescOutsideMemory:
                Raw(D(0xdead_0000, 8));
                return RingFault.DescOutsideMemory;
            case Bad.DescAddressOverflows:
                Raw(D(ulong.MaxValue - 7, 64));
                return RingFault.DescOutsideMemory;
            case Bad.DescRunsPastTheEndOfRam:
                Raw(D(ramEnd - 10, 64));
                return RingFault.DescOutsideMemory;
            case Bad.WrongDirection:
                Raw(D(buf, 8, Write));
                return RingFault.WrongDirection;
            case Bad.WrongDirectionInChain:
                Raw(D(buf, 8, Next), D(buf, 8, Write));
                return RingFault.WrongDirection;
            case Bad.IdOutOfRange:
                Raw(D(buf, 8, 0, id: 8));
                return RingFault.PackedBadId;
            case Bad.IdOutOfRangeOnChain:
                Raw(D(buf, 8, Next, id: 0), D(buf, 8, 0, id: 1000));
                return RingFault.PackedBadId;
            case Bad.ZeroLength:
                Raw(D(buf, 0));
                return RingFault.ZeroLength;
            default:
                throw new ArgumentOutOfRangeException(nameof(bad));
        }
    }

    /// <summary>
    /// Rings full of random descriptors (random flags biased towards "available", addresses in,
    /// at the edges of and outside guest RAM, random lengths, random indirect tables) and random
    /// start positions: the device never hands out memory outside guest RAM, never walks more
    /// slots than the ring holds, and every call returns.
    /// </summary>
    [Fact]
    public void RandomRingsNeverEscapeGuestMemoryAndAlwaysReturn()
    {
        const int Size = 16;
        using var rp = new PackedRingPair(Size, ramBytes: 2 << 20, regions: 2);
        var rng = new Random(20240601);
        ulong table = rp.Ram.Alloc(16 * 64, 16);
        ulong ram0 = rp.Ram.Regions[0].Gpa;
        ulong ramEnd = rp.Ram.Regions[^1].Gpa + rp.Ram.Regions[^1].Size;
        var burst = new BufRef[8];
        int ok = 0, broken = 0;
        for (int iter = 0; iter < 3000; iter++)
        {
            bool wrap = rng.Next(2) == 0;
            bool dir = rng.Next(2) == 0;
            ushort availBits = PackedDesc.AvailBits(wrap);
            for (int i = 0; i < Size; i++)
            {
                rp.Desc(i) = RandomDesc(rng, availBits, dir, table, ram0, ramEnd);
            }
            var t = new Span<PackedDesc>(rp.Ram.Host(table), 64);
            for (int i = 0; i < t.Length; i++)
            {
                t[i] = RandomDesc(rng, 0, dir, table, ram0, ramEnd);
            }
            ushort start = (ushort)rng.Next(Size);
            rp.Attach(new PackedBase(start, wrap, start, wrap).Encode());
            for (int step = 0; step < 3 * Size; step++)
            {
                bool writes = rng.Next(10) == 0 ? !dir : dir;
                int op = rng.Next(3);
                if (op == 0)
                {
                    int a = rp.Device.Available();
                    Assert.InRange(a, -1, Size);
                }
                else if (op == 1)
                {
                    int n = rp.Device.TakeSingles(rp.Memory, burst, writes);
                    for (int i = 0; i < n; i++)
                    {
                        AssertInside(rp, burst[i].Ptr, burst[i].Len);
                        Assert.InRange(burst[i].Id, 0, Size - 1);
                    }
                    rp.Device.PushUsedBurst(burst.AsSpan(0, n));
                }
                else
                {
                    PopStatus s = rp.Device.TryPop(rp.Memory, ref rp.Chain, writes);
                    if (s == PopStatus.Ok)
                    {
                        ok++;
                        Assert.InRange(rp.Chain.SlotCount, 1, Size);
                        Assert.InRange(rp.Chain.Id, 0, Size - 1);
                        for (int i = 0; i < rp.Chain.Count; i++)
                        {
                            AssertInside(rp, rp.Chain[i].Ptr, rp.Chain[i].Len);
                            Assert.InRange(rp.Chain[i].Gpa, ram0, ramEnd - rp.Chain[i].Len);
                        }
                        rp.Device.PushUsed(rp.Chain.Id, (uint)rng.Next(100), rp.Chain.SlotCount);
                    }
                    else if (s == PopStatus.Broken)
                    {
                        broken++;
                        break;
                    }
                }
                if (rng.Next(4) == 0)
                {
                    rp.Device.Publish(rng.Next(2) == 0);
                }
            }
        }
        // The generator must reach both outcomes often, or it tests nothing.
        Assert.True(ok > 500, $"only {ok} valid buffers");
        Assert.True(broken > 500, $"only {broken} faults");
    }

    /// <summary>A valid descriptor (buffer in RAM, id in range, the iteration's direction,
    /// sometimes NEXT), then, three times in ten, one field made hostile.</summary>
    private static PackedDesc RandomDesc(Random rng, ushort availBits, bool writes, ulong table, ulong ram0, ulong ramEnd)
    {
        uint len = (uint)rng.Next(1, 4096);
        var d = new PackedDesc
        {
            Addr = ram0 + (ulong)rng.NextInt64((long)(ramEnd - ram0 - len)),
            Len = len,
            Id = (ushort)rng.Next(16),
            Flags = (ushort)(availBits | (writes ? PackedDesc.FlagWrite : 0) | (rng.Next(10) < 3 ? PackedDesc.FlagNext : 0)),
        };
        if (rng.Next(10) >= 3)
        {
            return d;
        }
        switch (rng.Next(5))
        {
            case 0:
                d.Addr = rng.Next(7) switch
                {
                    0 => 0,
                    1 => ulong.MaxValue - (ulong)rng.Next(4096),
                    2 => ramEnd - (ulong)rng.Next(1, 4096),
                    3 => ram0 - (ulong)rng.Next(1, 64),
                    4 => table,
                    5 => (ulong)rng.NextInt64(),
                    _ => ram0 + (ramEnd - ram0) / 2 - (ulong)rng.Next(4096), // straddles the regions
                };
                break;
            case 1:
                d.Len = rng.Next(4) switch
                {
                    0 => 0,
                    1 => uint.MaxValue - (uint)rng.Next(16),
                    2 => (uint)rng.Next(1, 5) * 16,
                    _ => (uint)rng.Next(1, 1 << 21),
                };
                break;
            case 2:
                d.Id = (ushort)rng.Next(65536);
                break;
            case 3:
                d.Flags = (ushort)rng.Next(65536);
                break;
            default:
                // An indirect descriptor into the random table, with a random length.
                d.Addr = table + (ulong)(16 * rng.Next(8));
                d.Len = (uint)rng.Next(0, 40) * (rng.Next(4) == 0 ? 1u : 16u);
                d.Flags = (ushort)(availBits | PackedDesc.FlagIndirect | (rng.Next(4) == 0 ? PackedDesc.FlagNext : 0));
                break;
        }
        return d;
    }

    private static void AssertInside(PackedRingPair rp, byte* p, uint len)
    {
        foreach (var r in rp.Memory.Regions)
        {
            byte* start = r.HostStart;
            if (p >= start && p < start + r.Desc.MemorySize)
            {
                Assert.True((ulong)(p - start) + len <= r.Desc.MemorySize, "segment runs past its region");
                return;
            }
        }
        Assert.Fail("segment outside every guest memory region");
    }
}

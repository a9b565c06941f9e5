using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

/// <summary>
/// INDIRECT_DESC on the device side: a table walked in its own next order, direct descriptors
/// before it, and every way a table can be malformed, each refused by name without touching
/// memory outside the guest's.
/// </summary>
public unsafe class IndirectChainTests
{
    /// <summary>Writes an indirect table of <paramref name="entries"/> into guest RAM.</summary>
    private static ulong Table(RingPair rp, params VirtqDesc[] entries)
    {
        ulong gpa = rp.Ram.Alloc((ulong)(16 * Math.Max(1, entries.Length)), 16);
        var t = new Span<VirtqDesc>(rp.Ram.Host(gpa), entries.Length);
        entries.CopyTo(t);
        return gpa;
    }

    [Fact]
    public void IndirectTableBecomesSegmentsInItsNextOrder()
    {
        using var rp = new RingPair(8);
        ulong a = rp.Buffer(12, 1), b = rp.Buffer(100, 2), c = rp.Buffer(50, 3);
        ulong t = Table(rp,
            new VirtqDesc { Addr = a, Len = 12, Flags = VirtqDesc.FlagNext, Next = 2 },
            new VirtqDesc { Addr = c, Len = 50 },
            new VirtqDesc { Addr = b, Len = 100, Flags = VirtqDesc.FlagNext, Next = 1 });
        rp.Desc(3) = new VirtqDesc { Addr = t, Len = 48, Flags = VirtqDesc.FlagIndirect };
        rp.Driver.Post(3);
        rp.Driver.PublishNoKick();
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, deviceWrites: false));
        Assert.Equal(3, rp.Chain.Id);
        Assert.Equal(3, rp.Chain.Count);
        Assert.Equal(162u, rp.Chain.TotalLen);
        Assert.Equal(1, rp.Chain.SegmentSpan(0)[0]);
        Assert.Equal(2, rp.Chain.SegmentSpan(1)[0]);
        Assert.Equal(3, rp.Chain.SegmentSpan(2)[0]);
    }

    [Fact]
    public void DirectDescriptorsMayPrecedeTheIndirectOneAndItsWriteFlagIsIgnored()
    {
        using var rp = new RingPair(8);
        ulong hdr = rp.Buffer(12, 7), data = rp.Buffer(64, 8);
        ulong t = Table(rp, new VirtqDesc { Addr = data, Len = 64, Flags = VirtqDesc.FlagWrite });
        rp.Desc(0) = new VirtqDesc { Addr = hdr, Len = 12, Flags = VirtqDesc.FlagWrite | VirtqDesc.FlagNext, Next = 5 };
        rp.Desc(5) = new VirtqDesc { Addr = t, Len = 16, Flags = VirtqDesc.FlagIndirect | VirtqDesc.FlagWrite };
        rp.Driver.Post(0);
        rp.Driver.PublishNoKick();
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, deviceWrites: true));
        Assert.Equal(2, rp.Chain.Count);
        Assert.Equal(76u, rp.Chain.TotalLen);
    }

    public enum Bad
    {
        ZeroLength,
        LengthNotMultipleOf16,
        Nested,
        IndirectWithNext,
        TableOutsideMemory,
        NextBeyondTable,
        LoopInsideTable,
        WrongDirectionInside,
        NotNegotiated,
    }

    [Theory]
    [InlineData(Bad.ZeroLength, RingFault.IndirectBadLength)]
    [InlineData(Bad.LengthNotMultipleOf16, RingFault.IndirectBadLength)]
    [InlineData(Bad.Nested, RingFault.IndirectNested)]
    [InlineData(Bad.IndirectWithNext, RingFault.IndirectWithNext)]
    [InlineData(Bad.TableOutsideMemory, RingFault.IndirectOutsideMemory)]
    [InlineData(Bad.NextBeyondTable, RingFault.NextOutOfRange)]
    [InlineData(Bad.LoopInsideTable, RingFault.ChainTooLong)]
    [InlineData(Bad.WrongDirectionInside, RingFault.WrongDirection)]
    [InlineData(Bad.NotNegotiated, RingFault.IndirectNotNegotiated)]
    public void MalformedIndirectTablesBreakTheRingByName(Bad bad, RingFault expected)
    {
        using var rp = new RingPair(8, indirect: bad != Bad.NotNegotiated);
        ulong buf = rp.Buffer(64, 1);
        var ok = new VirtqDesc { Addr = buf, Len = 64 };
        ulong inner = Table(rp, ok);
        (ulong addr, uint len, ushort flags) = bad switch
        {
            Bad.ZeroLength => (Table(rp, ok), 0u, (ushort)0),
            Bad.LengthNotMultipleOf16 => (Table(rp, ok, ok), 24u, (ushort)0),
            Bad.Nested => (Table(rp, new VirtqDesc { Addr = inner, Len = 16, Flags = VirtqDesc.FlagIndirect }), 16u, (ushort)0),
            Bad.IndirectWithNext => (Table(rp, ok), 16u, VirtqDesc.FlagNext),
            Bad.TableOutsideMemory => (0xdead_0000_0000UL, 16u, (ushort)0),
            Bad.NextBeyondTable => (Table(rp, ok with { Flags = VirtqDesc.FlagNext, Next = 2 }, ok), 32u, (ushort)0),
            Bad.LoopInsideTable => (Table(rp, ok with { Flags = VirtqDesc.FlagNext, Next = 1 }, ok with { Flags = VirtqDesc.FlagNext, Next = 0 }), 32u, (ushort)0),
            Bad.WrongDirectionInside => (Table(rp, ok with { Flags = VirtqDesc.FlagWrite }), 16u, (ushort)0),
            _ => (Table(rp, ok), 16u, (ushort)0),
        };
        rp.Desc(1) = new VirtqDesc { Addr = addr, Len = len, Flags = (ushort)(VirtqDesc.FlagIndirect | flags), Next = 2 };
        rp.Desc(2) = ok;
        rp.Driver.Post(1);
        rp.Driver.PublishNoKick();
        Assert.Equal(PopStatus.Broken, rp.Device.TryPop(rp.Memory, ref rp.Chain, deviceWrites: false));
        Assert.Equal(expected, rp.Device.Fault);
        Assert.Equal(PopStatus.Broken, rp.Device.TryPop(rp.Memory, ref rp.Chain, deviceWrites: false)); // sticky
    }
}

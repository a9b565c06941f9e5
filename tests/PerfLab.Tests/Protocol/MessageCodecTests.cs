using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PerfLab.Vhost.Protocol;
using Xunit;

namespace PerfLab.Tests.Protocol;

public class MessageCodecTests
{
    [Fact]
    public void HeaderFieldsRoundTripThroughTheWireFormat()
    {
        Span<byte> buf = stackalloc byte[64];
        int n = MessageCodec.Write(buf, VhostUserRequest.SetVringNum, VhostUserFlags.Version1 | VhostUserFlags.NeedReply, new VringState(3, 256));
        Assert.Equal(20, n);
        // request, flags, size: three little-endian u32s
        Assert.Equal(8u, BitConverter.ToUInt32(buf[0..4]));
        Assert.Equal(0x9u, BitConverter.ToUInt32(buf[4..8]));
        Assert.Equal(8u, BitConverter.ToUInt32(buf[8..12]));
        VhostUserHeader h = MessageCodec.ReadHeader(buf);
        Assert.Equal(VhostUserRequest.SetVringNum, h.Request);
        Assert.Equal(1u, h.Version);
        Assert.True(h.NeedsReply);
        Assert.False(h.IsReply);
        Assert.Equal(8u, h.PayloadSize);
        VringState s = MessageCodec.ReadPayload<VringState>(h.Request, buf[12..20]);
        Assert.Equal(3u, s.Index);
        Assert.Equal(256u, s.Num);
    }

    [Fact]
    public void PayloadStructsHaveTheSpecSizes()
    {
        Assert.Equal(12, Unsafe.SizeOf<VhostUserHeader>());
        Assert.Equal(8, Unsafe.SizeOf<VhostUserU64>());
        Assert.Equal(8, Unsafe.SizeOf<VringState>());
        Assert.Equal(40, Unsafe.SizeOf<VringAddr>());
        Assert.Equal(32, Unsafe.SizeOf<MemoryRegionDesc>());
        Assert.Equal(8, Unsafe.SizeOf<MemoryTableHeader>());
        Assert.Equal(40, Unsafe.SizeOf<SingleMemRegion>());
        Assert.Equal(16, Unsafe.SizeOf<LogDesc>());
        Assert.Equal(24, Unsafe.SizeOf<InflightDesc>());
        Assert.Equal(12, Unsafe.SizeOf<ConfigHeader>());
    }

    [Fact]
    public void VringAddrFieldsAreInSpecOrderDescUsedAvailLog()
    {
        var a = new VringAddr { Index = 1, Flags = 1, DescUserAddr = 0x10, UsedUserAddr = 0x20, AvailUserAddr = 0x30, LogGuestAddr = 0x40 };
        byte[] b = new byte[40];
        MemoryMarshal.Write(b, in a);
        Assert.Equal(1u, BitConverter.ToUInt32(b, 0));
        Assert.Equal(1u, BitConverter.ToUInt32(b, 4));
        Assert.Equal(0x10ul, BitConverter.ToUInt64(b, 8));
        Assert.Equal(0x20ul, BitConverter.ToUInt64(b, 16));
        Assert.Equal(0x30ul, BitConverter.ToUInt64(b, 24));
        Assert.Equal(0x40ul, BitConverter.ToUInt64(b, 32));
    }

    [Fact]
    public void MemoryTablePayloadLaysOutRegionsAfterAnEightByteHeader()
    {
        var payload = new byte[8 + 64];
        MemoryMarshal.Write(payload, new MemoryTableHeader { NumRegions = 2 });
        MemoryMarshal.Write(payload.AsSpan(8), new MemoryRegionDesc(0, 0x1000, 0x7f00_0000_0000, 0));
        MemoryMarshal.Write(payload.AsSpan(40), new MemoryRegionDesc(0x1000, 0x2000, 0x7f00_0001_0000, 0x1000));
        Assert.Equal(2u, BitConverter.ToUInt32(payload, 0));
        var regions = MemoryMarshal.Cast<byte, MemoryRegionDesc>(payload.AsSpan(8));
        Assert.Equal(0x1000ul, regions[1].GuestPhysAddr);
        Assert.Equal(0x2000ul, regions[1].MemorySize);
        Assert.Equal(0x7f00_0001_0000ul, regions[1].UserspaceAddr);
        Assert.Equal(0x1000ul, regions[1].MmapOffset);
        var h = new VhostUserHeader(VhostUserRequest.SetMemTable, VhostUserFlags.Version1, (uint)payload.Length);
        MessageCodec.ValidatePayloadSize(h);
    }

    public static TheoryData<VhostUserRequest, int> FixedSizes => new()
    {
        { VhostUserRequest.GetFeatures, 0 },
        { VhostUserRequest.SetFeatures, 8 },
        { VhostUserRequest.SetOwner, 0 },
        { VhostUserRequest.ResetOwner, 0 },
        { VhostUserRequest.SetVringNum, 8 },
        { VhostUserRequest.SetVringAddr, 40 },
        { VhostUserRequest.SetVringBase, 8 },
        { VhostUserRequest.GetVringBase, 8 },
        { VhostUserRequest.SetVringKick, 8 },
        { VhostUserRequest.SetVringCall, 8 },
        { VhostUserRequest.SetVringErr, 8 },
        { VhostUserRequest.GetProtocolFeatures, 0 },
        { VhostUserRequest.SetProtocolFeatures, 8 },
        { VhostUserRequest.GetQueueNum, 0 },
        { VhostUserRequest.SetVringEnable, 8 },
        { VhostUserRequest.SendRarp, 8 },
        { VhostUserRequest.NetSetMtu, 8 },
        { VhostUserRequest.SetBackendReqFd, 0 },
        { VhostUserRequest.SetLogBase, 16 },
        { VhostUserRequest.GetMaxMemSlots, 0 },
        { VhostUserRequest.AddMemReg, 40 },
        { VhostUserRequest.RemMemReg, 40 },
        { VhostUserRequest.SetStatus, 8 },
        { VhostUserRequest.GetStatus, 0 },
        { VhostUserRequest.ResetDevice, 0 },
        { VhostUserRequest.GetInflightFd, 24 },
    };

    [Theory]
    [MemberData(nameof(FixedSizes))]
    public void EachRequestAcceptsExactlyItsPayloadSize(VhostUserRequest r, int size)
    {
        Assert.Equal(size, MessageCodec.FixedPayloadSize(r));
        MessageCodec.ValidatePayloadSize(new VhostUserHeader(r, VhostUserFlags.Version1, (uint)size));
        var e = Assert.Throws<VhostProtocolException>(() => MessageCodec.ValidatePayloadSize(new VhostUserHeader(r, VhostUserFlags.Version1, (uint)size + 4)));
        Assert.Equal("size", e.Field);
        Assert.Contains(RequestNames.Of(r), e.Message);
    }

    [Theory]
    [InlineData(0u, "request")]
    [InlineData(45u, "request")]
    [InlineData(0xFFFFu, "request")]
    public void RejectsUnknownRequestCodes(uint code, string field)
    {
        var h = new VhostUserHeader((VhostUserRequest)code, VhostUserFlags.Version1, 0);
        var e = Assert.Throws<VhostProtocolException>(() => MessageCodec.ValidateRequestHeader(h));
        Assert.Equal(field, e.Field);
    }

    [Theory]
    [InlineData(0x0u, "flags.version")]
    [InlineData(0x2u, "flags.version")]
    [InlineData(0x11u, "flags")]
    [InlineData(0x80000001u, "flags")]
    [InlineData(0x5u, "flags.REPLY")]
    public void RejectsBadHeaderFlags(uint flags, string field)
    {
        var h = new VhostUserHeader(VhostUserRequest.GetFeatures, (VhostUserFlags)flags, 0);
        var e = Assert.Throws<VhostProtocolException>(() => MessageCodec.ValidateRequestHeader(h));
        Assert.Equal(field, e.Field);
    }

    [Fact]
    public void RejectsOversizePayloadBeforeReadingIt()
    {
        var h = new VhostUserHeader(VhostUserRequest.SetMemTable, VhostUserFlags.Version1, 4097);
        var e = Assert.Throws<VhostProtocolException>(() => MessageCodec.ValidateRequestHeader(h));
        Assert.Equal("size", e.Field);
        Assert.Contains("4096", e.Limit);
    }

    [Fact]
    public void ReplyHeaderMustBeExactlyVersionPlusReplyAndEchoTheRequest()
    {
        MessageCodec.ValidateReplyHeader(new VhostUserHeader(VhostUserRequest.GetFeatures, VhostUserFlags.Version1 | VhostUserFlags.Reply, 8), VhostUserRequest.GetFeatures);
        Assert.Throws<VhostProtocolException>(() => MessageCodec.ValidateReplyHeader(
            new VhostUserHeader(VhostUserRequest.GetFeatures, VhostUserFlags.Version1 | VhostUserFlags.Reply | VhostUserFlags.NeedReply, 8), VhostUserRequest.GetFeatures));
        Assert.Throws<VhostProtocolException>(() => MessageCodec.ValidateReplyHeader(
            new VhostUserHeader(VhostUserRequest.GetProtocolFeatures, VhostUserFlags.Version1 | VhostUserFlags.Reply, 8), VhostUserRequest.GetFeatures));
    }

    [Theory]
    [InlineData(VhostUserRequest.SetVringKick, 0x000ul, 1, 1)]
    [InlineData(VhostUserRequest.SetVringKick, 0x100ul, 0, 0)]
    [InlineData(VhostUserRequest.SetVringCall, 0x101ul, 0, 0)]
    [InlineData(VhostUserRequest.SetVringErr, 0x001ul, 1, 1)]
    [InlineData(VhostUserRequest.GetFeatures, 0ul, 0, 0)]
    [InlineData(VhostUserRequest.SetBackendReqFd, 0ul, 1, 1)]
    [InlineData(VhostUserRequest.SetMemTable, 0ul, 0, 8)]
    [InlineData(VhostUserRequest.RemMemReg, 0ul, 0, 1)]
    public void FdCountsFollowTheRequestAndTheNoFdBit(VhostUserRequest r, ulong payload, int min, int max)
    {
        var p = BitConverter.GetBytes(payload);
        var (lo, hi) = MessageCodec.FdRange(r, p);
        Assert.Equal(min, lo);
        Assert.Equal(max, hi);
    }

    [Fact]
    public void RegionValidationCatchesOverflowAndZeroSize()
    {
        Assert.Throws<VhostProtocolException>(() => MessageCodec.ValidateRegion(VhostUserRequest.SetMemTable, new MemoryRegionDesc(0, 0, 0x1000, 0), 0));
        Assert.Throws<VhostProtocolException>(() => MessageCodec.ValidateRegion(VhostUserRequest.SetMemTable, new MemoryRegionDesc(ulong.MaxValue - 10, 0x1000, 0x1000, 0), 0));
        Assert.Throws<VhostProtocolException>(() => MessageCodec.ValidateRegion(VhostUserRequest.SetMemTable, new MemoryRegionDesc(0, 0x1000, ulong.MaxValue, 0), 0));
        Assert.Throws<VhostProtocolException>(() => MessageCodec.ValidateRegion(VhostUserRequest.SetMemTable, new MemoryRegionDesc(0, 0x1000, 0x1000, ulong.MaxValue - 1), 0));
        MessageCodec.ValidateRegion(VhostUserRequest.SetMemTable, new MemoryRegionDesc(0, 0x1000, 0x7f00_0000_0000, 0), 0);
    }

    [Fact]
    public void RequestNamesAreTheSpecsUpperCaseNames()
    {
        Assert.Equal("SET_VRING_ADDR", RequestNames.Of(VhostUserRequest.SetVringAddr));
        Assert.Equal("GET_MAX_MEM_SLOTS", RequestNames.Of(VhostUserRequest.GetMaxMemSlots));
        Assert.Equal("SET_BACKEND_REQ_FD", RequestNames.Of(VhostUserRequest.SetBackendReqFd));
        Assert.Equal("REQUEST_999", RequestNames.Of((VhostUserRequest)999));
    }

    [Fact]
    public void RejectionMessageNamesRequestFieldValueAndLimit()
    {
        var e = new VhostProtocolException(VhostUserRequest.SetVringNum, "num", 1000, "must be a power of two");
        Assert.Equal("SET_VRING_NUM: num=0x3e8 rejected: must be a power of two", e.Message);
    }

    [Fact]
    public void FeatureBitsAreMasksNotBitNumbers()
    {
        // libvhost-user once tested the constant 30 as a mask (docs/protocol.md#state-pitfalls).
        Assert.Equal(1UL << 30, VirtioFeatures.ProtocolFeatures);
        Assert.Equal(1UL << 32, VirtioFeatures.Version1);
        Assert.Equal("VERSION_1|PROTOCOL_FEATURES|bit40", VirtioFeatures.Describe(VirtioFeatures.Version1 | VirtioFeatures.ProtocolFeatures | (1UL << 40)).Replace("PROTOCOL_FEATURES|VERSION_1", "VERSION_1|PROTOCOL_FEATURES"));
    }
}

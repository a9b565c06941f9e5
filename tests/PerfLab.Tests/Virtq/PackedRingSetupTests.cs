using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

/// <summary>SET/GET_VRING_BASE encoding, ring restart, and SET_VRING_ADDR for packed rings.</summary>
public class PackedRingSetupTests
{
    [Theory]
    [InlineData(0, true, 0, true, 0x8000_8000u)]       // fresh
    [InlineData(5, false, 3, true, 0x8003_0005u)]
    [InlineData(32767, true, 32767, false, 0x7fff_ffffu)]
    [InlineData(0, false, 0, false, 0u)]
    [InlineData(1, true, 1, true, 0x8001_8001u)]
    public void BaseEncodingRoundTrips(int avail, bool availWrap, int used, bool usedWrap, uint encoded)
    {
        var b = new PackedBase((ushort)avail, availWrap, (ushort)used, usedWrap);
        Assert.Equal(encoded, b.Encode());
        Assert.Equal(b, PackedBase.Decode(encoded));
    }

    [Theory]
    [InlineData(0x8000u, 0, true)]     // DPDK's reply for a fresh ring: used := avail
    [InlineData(0x0005u, 5, false)]
    [InlineData(0x8003u, 3, true)]
    public void DpdkBaseWithoutTheUsedHalfMeansUsedEqualsAvail(uint encoded, int idx, bool wrap)
    {
        Assert.Equal(new PackedBase((ushort)idx, wrap, (ushort)idx, wrap), PackedBase.Decode(encoded));
    }

    [Theory]
    [InlineData(0x8000_8008u, 8u, "avail")]
    [InlineData(0x8008_8000u, 8u, "used")]
    [InlineData(0x0009u, 8u, "avail")]
    public void BaseBeyondTheRingIsRefusedNamingTheHalf(uint encoded, uint size, string half)
    {
        string? why = PackedBase.Decode(encoded).Check(size);
        Assert.NotNull(why);
        Assert.StartsWith(half, why);
        var err = PackedRingAddresses.CheckBase(encoded, size);
        Assert.Equal("num", err!.Value.Field);
        Assert.Null(PackedRingAddresses.CheckBase(PackedBase.Fresh, 1));
    }

    /// <summary>GET_VRING_BASE after a drain, then SET_VRING_BASE on a new device side (ours,
    /// or DPDK's 16-bit form): the ring carries on where it stopped, mid-lap with wrap 0.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DrainedRingRestartsFromItsEncodedBase(bool dpdkForm)
    {
        using var rp = new PackedRingPair(7);
        var w = new PackedWorkload(rp, deviceWrites: true, postSeed: 1, takeSeed: 2);
        for (int round = 0; round < 10_000 && (w.SlotsReclaimed < 10 || rp.Device.NextAvail == 0 || rp.Device.AvailWrap); round++)
        {
            w.PostSome();
            w.Drain(burst: true);
        }
        Assert.False(rp.Device.AvailWrap);
        uint b = rp.Device.EncodeBase();
        Assert.Equal(new PackedBase(rp.Driver.NextAvail, false, rp.Driver.NextUsed, false).Encode(), b);
        Assert.False(rp.Attach(dpdkForm ? b & 0xffff : b));
        Assert.Equal(b, rp.Device.EncodeBase());
        for (int round = 0; round < 100; round++)
        {
            w.PostSome();
            w.TakeSome(burst: true, all: false);
            w.Reclaim();
        }
        w.Drain(burst: false);
    }

    /// <summary>A base whose avail half is ahead of its used half (buffers taken, never
    /// returned): the new device side takes those buffers again instead of stalling the driver.</summary>
    [Fact]
    public void BaseWithBuffersInFlightResyncsToTheUsedPosition()
    {
        using var rp = new PackedRingPair(4);
        ulong buf = rp.Buffer(64);
        for (ushort i = 0; i < 3; i++)
        {
            rp.Driver.Post(i, buf, 64, false);
        }
        rp.Driver.PublishNoKick();
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        rp.Device.PushUsed(rp.Chain.Id, 0, 1);
        rp.Device.Publish(false);
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        uint b = rp.Device.EncodeBase();
        Assert.Equal(new PackedBase(3, true, 1, true).Encode(), b);
        Assert.True(rp.Attach(b));
        Assert.Equal(1, rp.Device.NextAvail);
        Assert.Equal(2, rp.Device.Available());
        Assert.Equal(PopStatus.Ok, rp.Device.TryPop(rp.Memory, ref rp.Chain, false));
        Assert.Equal(1, rp.Chain.Id);
    }

    [Fact]
    public void RingAddressesAreCheckedByNameWithPackedAlignment()
    {
        using var rp = new PackedRingPair(8);
        Assert.Null(PackedRingAddresses.CheckSyntax(rp.Addr));
        Assert.Null(PackedRingAddresses.CheckPacked(rp.Memory, rp.Addr, 8));
        var a = rp.Addr;
        a.DescUserAddr += 8;
        Assert.Equal("desc_user_addr", PackedRingAddresses.CheckSyntax(a)!.Value.Field);
        a = rp.Addr;
        a.AvailUserAddr += 2; // fine for a split avail ring, not for an event area
        Assert.Equal("avail_user_addr", PackedRingAddresses.CheckSyntax(a)!.Value.Field);
        a = rp.Addr;
        a.UsedUserAddr += 2;
        Assert.Equal("used_user_addr", PackedRingAddresses.CheckSyntax(a)!.Value.Field);
        a = rp.Addr;
        a.Flags = 2;
        Assert.Equal("flags", PackedRingAddresses.CheckSyntax(a)!.Value.Field);
        a = rp.Addr;
        a.AvailUserAddr = 0xdead_0000;
        Assert.Equal("avail_user_addr", PackedRingAddresses.CheckPacked(rp.Memory, a, 8)!.Value.Field);
        a = rp.Addr;
        a.UsedUserAddr = 0xdead_0000;
        Assert.Equal("used_user_addr", PackedRingAddresses.CheckPacked(rp.Memory, a, 8)!.Value.Field);
        // A descriptor ring running past the end of guest RAM.
        a = rp.Addr;
        a.DescUserAddr = rp.Ram.Fva(rp.Ram.Regions[0].Gpa + rp.Ram.Regions[0].Size - 64);
        Assert.Null(PackedRingAddresses.CheckPacked(rp.Memory, a, 4));
        Assert.Equal("desc_user_addr", PackedRingAddresses.CheckPacked(rp.Memory, a, 5)!.Value.Field);
    }

    [Theory]
    [InlineData(0u, false)]
    [InlineData(1u, true)]
    [InlineData(3u, true)]
    [InlineData(1000u, true)]
    [InlineData(32768u, true)]
    [InlineData(32769u, false)]
    public void AnySizeUpTo32768IsAPackedRing(uint size, bool ok)
    {
        Assert.Equal(ok, PackedLayout.IsValidSize(size));
        using var rp = new PackedRingPair(4, ramBytes: 8 << 20);
        ulong desc = rp.Ram.Alloc(16 * 32768, 4096);
        var a = rp.Addr;
        a.DescUserAddr = rp.Ram.Fva(desc);
        PackedRing r = default;
        var err = PackedRingAddresses.AttachPacked(rp.Memory, a, size, PackedBase.Fresh, false, false, ref r, out _);
        Assert.Equal(ok, err == null);
        Assert.Equal(ok, r.IsConfigured);
        if (!ok)
        {
            Assert.Equal("num", err!.Value.Field);
        }
    }

    /// <summary>SET_MEM_TABLE while running: the ring is re-pointed at the new mapping of the
    /// same guest memory and carries on.</summary>
    [Fact]
    public void RetranslateKeepsTheRingRunningOverANewMapping()
    {
        using var rp = new PackedRingPair(8);
        var w = new PackedWorkload(rp, deviceWrites: false, postSeed: 3, takeSeed: 4);
        for (int round = 0; round < 20; round++)
        {
            w.PostSome();
            w.TakeSome(burst: true, all: false);
            w.Reclaim();
        }
        var fds = rp.Ram.Regions.Select(r => LibC.dup(r.Fd)).ToList();
        rp.Table.Replace(VhostUserRequest.SetMemTable, rp.Ram.Regions.Select(r => r.Desc).ToArray(), fds);
        Assert.Null(PackedRingAddresses.RetranslatePacked(rp.Memory, rp.Addr, 8, ref rp.Device));
        for (int round = 0; round < 20; round++)
        {
            w.PostSome();
            w.TakeSome(burst: true, all: false);
            w.Reclaim();
        }
        w.Drain(burst: true);
        rp.Table.ReleaseRetired();
    }
}

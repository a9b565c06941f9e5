using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Protocol;

namespace PerfLab.Vhost.Virtq;

/// <summary>
/// <see cref="RingAddresses"/> for packed rings. SET_VRING_ADDR carries a packed ring's three
/// parts in the split ring's fields: desc_user_addr = the descriptor ring (align 16, 16*num
/// bytes), avail_user_addr = the driver event suppression area, used_user_addr = the device
/// event suppression area (4 bytes each, align 4). Errors name those fields, as for split.
/// </summary>
public static unsafe class PackedRingAddresses
{
    /// <summary>Checks alignment and the flag bits; null if fine. As for split, except that
    /// the driver event area (in avail_user_addr) needs 4-byte alignment, not 2.</summary>
    public static RingAddressError? CheckSyntax(in VringAddr a)
    {
        if (a.AvailUserAddr % PackedLayout.EventAlign != 0)
        {
            return new("avail_user_addr", a.AvailUserAddr, "driver event area must be 4-byte aligned");
        }
        // desc 16 and used 4 are the split rule too (PackedLayout.DescAlign, EventAlign).
        return RingAddresses.CheckSyntax(a);
    }

    /// <summary>Translates the three parts of a packed ring of size <paramref name="num"/>.</summary>
    public static RingAddressError? TranslatePacked(GuestMemory mem, in VringAddr a, uint num, out byte* desc, out byte* driverEvent, out byte* deviceEvent)
    {
        desc = mem.TranslateFva(a.DescUserAddr, (ulong)PackedLayout.DescRingBytes((int)num));
        driverEvent = mem.TranslateFva(a.AvailUserAddr, PackedLayout.EventBytes);
        deviceEvent = mem.TranslateFva(a.UsedUserAddr, PackedLayout.EventBytes);
        if (desc == null)
        {
            return new("desc_user_addr", a.DescUserAddr, $"descriptor ring of {PackedLayout.DescRingBytes((int)num)} bytes is not inside one memory region");
        }
        if (driverEvent == null)
        {
            return new("avail_user_addr", a.AvailUserAddr, "driver event area of 4 bytes is not inside a memory region");
        }
        if (deviceEvent == null)
        {
            return new("used_user_addr", a.UsedUserAddr, "device event area of 4 bytes is not inside a memory region");
        }
        return null;
    }

    /// <summary>Checks that a packed ring of size <paramref name="num"/> at these addresses is
    /// inside guest memory, without attaching it.</summary>
    public static RingAddressError? CheckPacked(GuestMemory mem, in VringAddr a, uint num) =>
        TranslatePacked(mem, a, num, out _, out _, out _);

    /// <summary>Checks a SET_VRING_BASE value against the ring size; null if fine.</summary>
    public static RingAddressError? CheckBase(uint encodedBase, uint num) =>
        PackedBase.Decode(encodedBase).Check(num) is { } why ? new("num", encodedBase, why) : null;

    /// <summary>Attaches a packed ring (see <see cref="PackedRing.Attach"/>); the size and the
    /// base are checked here, so a bad one is an error, not an exception.</summary>
    public static RingAddressError? AttachPacked(GuestMemory mem, in VringAddr a, uint num, uint encodedBase, bool eventIdx, bool indirect, ref PackedRing ring, out bool resynced, int scanLimit = PackedRing.DefaultScanLimit, bool inOrder = false)
    {
        resynced = false;
        if (!PackedLayout.IsValidSize(num))
        {
            return new("num", num, "packed ring size must be in 1..32768");
        }
        if (CheckBase(encodedBase, num) is { } bad)
        {
            return bad;
        }
        RingAddressError? e = TranslatePacked(mem, a, num, out byte* d, out byte* drv, out byte* dev);
        if (e != null)
        {
            return e;
        }
        ring = PackedRing.Attach(d, drv, dev, (ushort)num, encodedBase, eventIdx, indirect, out resynced, scanLimit, inOrder);
        return null;
    }

    /// <summary>Re-points a running packed ring after a memory-table change.</summary>
    public static RingAddressError? RetranslatePacked(GuestMemory mem, in VringAddr a, uint num, ref PackedRing ring)
    {
        RingAddressError? e = TranslatePacked(mem, a, num, out byte* d, out byte* drv, out byte* dev);
        if (e == null)
        {
            ring.Retranslate(d, drv, dev);
        }
        return e;
    }
}

using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Protocol;

namespace PerfLab.Vhost.Virtq;

/// <summary>Why ring addresses were refused: the field, its value, and the rule.</summary>
public readonly record struct RingAddressError(string Field, ulong Value, string Limit);

/// <summary>
/// Turns SET_VRING_ADDR's front-end virtual addresses into an attached ring, through the one
/// door (<see cref="GuestMemory.TranslateFva"/>): each of the three parts must lie wholly inside
/// one region and be aligned as the spec requires (desc 16, avail 2, used 4).
/// </summary>
public static unsafe class RingAddresses
{
    /// <summary>Checks alignment and the flag bits; null if fine.</summary>
    public static RingAddressError? CheckSyntax(in VringAddr a)
    {
        if ((a.Flags & ~VringAddr.FlagLog) != 0)
        {
            return new("flags", a.Flags, "only bit 0 (log) is defined");
        }
        if (a.DescUserAddr % SplitLayout.DescAlign != 0)
        {
            return new("desc_user_addr", a.DescUserAddr, "must be 16-byte aligned");
        }
        if (a.AvailUserAddr % SplitLayout.AvailAlign != 0)
        {
            return new("avail_user_addr", a.AvailUserAddr, "must be 2-byte aligned");
        }
        if (a.UsedUserAddr % SplitLayout.UsedAlign != 0)
        {
            return new("used_user_addr", a.UsedUserAddr, "must be 4-byte aligned");
        }
        return null;
    }

    /// <summary>Translates the three parts of a split ring of size <paramref name="num"/>.</summary>
    public static RingAddressError? TranslateSplit(GuestMemory mem, in VringAddr a, uint num, out byte* desc, out byte* avail, out byte* used)
    {
        desc = mem.TranslateFva(a.DescUserAddr, (ulong)SplitLayout.DescTableBytes((int)num));
        avail = mem.TranslateFva(a.AvailUserAddr, (ulong)SplitLayout.AvailBytes((int)num));
        used = mem.TranslateFva(a.UsedUserAddr, (ulong)SplitLayout.UsedBytes((int)num));
        if (desc == null)
        {
            return new("desc_user_addr", a.DescUserAddr, $"descriptor table of {SplitLayout.DescTableBytes((int)num)} bytes is not inside one memory region");
        }
        if (avail == null)
        {
            return new("avail_user_addr", a.AvailUserAddr, $"avail ring of {SplitLayout.AvailBytes((int)num)} bytes is not inside one memory region");
        }
        if (used == null)
        {
            return new("used_user_addr", a.UsedUserAddr, $"used ring of {SplitLayout.UsedBytes((int)num)} bytes is not inside one memory region");
        }
        return null;
    }

    /// <summary>Checks that a split ring of size <paramref name="num"/> at these addresses is
    /// inside guest memory, without attaching it.</summary>
    public static RingAddressError? CheckSplit(GuestMemory mem, in VringAddr a, uint num) =>
        TranslateSplit(mem, a, num, out _, out _, out _);

    /// <summary>Attaches a split ring (see <see cref="SplitRing.Attach"/>).</summary>
    public static RingAddressError? AttachSplit(GuestMemory mem, in VringAddr a, uint num, ushort lastAvail, bool eventIdx, bool indirect, ref SplitRing ring, out bool resynced, bool inOrder = false)
    {
        resynced = false;
        if (!SplitLayout.IsValidSize(num))
        {
            return new("num", num, $"split ring size must be a power of two in 1..{SplitLayout.MaxQueueSize}");
        }
        RingAddressError? e = TranslateSplit(mem, a, num, out byte* d, out byte* av, out byte* u);
        if (e != null)
        {
            return e;
        }
        ring = SplitRing.Attach(d, av, u, (ushort)num, lastAvail, eventIdx, indirect, out resynced, inOrder);
        return null;
    }

    /// <summary>Re-points a running split ring after a memory-table change.</summary>
    public static RingAddressError? RetranslateSplit(GuestMemory mem, in VringAddr a, uint num, ref SplitRing ring)
    {
        RingAddressError? e = TranslateSplit(mem, a, num, out byte* d, out byte* av, out byte* u);
        if (e == null)
        {
            ring.Retranslate(d, av, u);
        }
        return e;
    }
}

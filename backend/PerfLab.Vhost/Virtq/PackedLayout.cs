using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PerfLab.Vhost.Virtq;

/// <summary>
/// A packed-ring descriptor (16 bytes, docs/protocol.md#packed-ring-layout). The same layout serves
/// the ring slots and the entries of an indirect table (where only WRITE is meaningful).
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct PackedDesc
{
    public const ushort FlagNext = 1;
    public const ushort FlagWrite = 2;
    public const ushort FlagIndirect = 4;
    /// <summary>VIRTQ_DESC_F_AVAIL (1 &lt;&lt; 7).</summary>
    public const ushort FlagAvail = 1 << 7;
    /// <summary>VIRTQ_DESC_F_USED (1 &lt;&lt; 15).</summary>
    public const ushort FlagUsed = 1 << 15;
    /// <summary>Both wrap bits: equal in a used descriptor, different in an available one.</summary>
    public const ushort WrapMask = FlagAvail | FlagUsed;

    public ulong Addr;
    public uint Len;
    /// <summary>Buffer id: meaningful in the last descriptor of a chain, and in used descriptors.</summary>
    public ushort Id;
    public ushort Flags;

    /// <summary>The AVAIL/USED bits a driver with wrap counter <paramref name="wrap"/> writes:
    /// AVAIL = wrap, USED = !wrap. A device with that avail wrap counter sees these as available.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort AvailBits(bool wrap) => wrap ? FlagAvail : FlagUsed;

    /// <summary>The AVAIL/USED bits a device with used wrap counter <paramref name="wrap"/>
    /// writes: both equal to it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort UsedBits(bool wrap) => wrap ? WrapMask : (ushort)0;

    /// <summary>
    /// Writes a descriptor's len, id and flags (bytes 8-15) in one aligned 8-byte store, so the
    /// slot never shows the new flags with an old id or len (and the store buffer takes one entry,
    /// not three). A plain store: the caller orders it (a batch's first flags, stored with release,
    /// publish the rest). The device leaves Addr alone: a used descriptor's address means nothing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void WriteLenIdFlags(PackedDesc* d, uint len, ushort id, ushort flags)
    {
        if (BitConverter.IsLittleEndian)
        {
            *(ulong*)&d->Len = len | (ulong)id << 32 | (ulong)flags << 48;
        }
        else
        {
            d->Len = len;
            d->Id = id;
            d->Flags = flags;
        }
    }
}

/// <summary>
/// An event suppression structure (4 bytes, align 4): <c>off_wrap</c> (bits 0-14 a ring offset,
/// bit 15 a wrap counter) then <c>flags</c> (ENABLE 0, DISABLE 1, DESC 2). The driver area is
/// written by the driver and read by the device (used-buffer notifications); the device area
/// the other way round (available-buffer notifications).
///
/// Both halves are accessed as one aligned little-endian u32 (<c>off_wrap | flags &lt;&lt; 16</c>),
/// as Linux's kick decision does: one load or store, so a reader never pairs one writer's
/// offset with another moment's flags.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct PackedEventSuppress
{
    public const ushort FlagsEnable = 0;
    public const ushort FlagsDisable = 1;
    /// <summary>Notify at the descriptor in <see cref="OffWrap"/>; only with EVENT_IDX.</summary>
    public const ushort FlagsDesc = 2;
    public const ushort FlagsMask = 3;
    public const ushort WrapBit = 1 << 15;
    public const ushort OffsetMask = 0x7fff;

    public ushort OffWrap;
    public ushort Flags;

    /// <summary>The u32 image of the structure (off_wrap in the low half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Pack(ushort flags, ushort offset = 0, bool wrap = false) =>
        (uint)(offset | (wrap ? WrapBit : 0)) | (uint)flags << 16;

    /// <summary>DESC at the slot <paramref name="ahead"/> past <paramref name="next"/> (in the
    /// lap of wrap counter <paramref name="wrap"/>); past the ring's end it is the next lap's.
    /// <paramref name="ahead"/> is below the ring size.</summary>
    public static uint DescAhead(ushort next, bool wrap, int ahead, ushort size)
    {
        int off = next + ahead;
        if (off >= size)
        {
            off -= size;
            wrap = !wrap;
        }
        return Pack(FlagsDesc, (ushort)off, wrap);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FlagsOf(uint image) => (ushort)((image >> 16) & FlagsMask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort OffsetOf(uint image) => (ushort)(image & OffsetMask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool WrapOf(uint image) => (image & WrapBit) != 0;

    /// <summary>
    /// The DESC decision (docs/protocol.md#packed-ring-notifications; DPDK's
    /// vhost_vring_call_packed, Linux's virtqueue_kick_prepare_packed): the side that just moved
    /// from ring offset <paramref name="oldOff"/> to <paramref name="newOff"/> (now in the lap of
    /// wrap counter <paramref name="wrap"/>) notifies iff the requested descriptor lies in what it
    /// passed. Offsets are unwrapped into one u16 line first: if the move crossed the end of the
    /// ring, old is a lap back; an event whose wrap bit is not the current lap's is a lap back too.
    /// Then <see cref="EventIdx.NeedEvent"/>. A move of exactly one lap (new == old) counts as a
    /// whole lap; callers never ask about a move of zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool NeedEvent(uint image, ushort newOff, ushort oldOff, bool wrap, ushort size)
    {
        ushort off = OffsetOf(image);
        if (newOff <= oldOff)
        {
            oldOff -= size;
        }
        if (WrapOf(image) != wrap)
        {
            off -= size;
        }
        return EventIdx.NeedEvent(off, newOff, oldOff);
    }
}

/// <summary>
/// A packed ring position as SET/GET_VRING_BASE carry it (docs/protocol.md#front-end-requests,
/// SET_VRING_BASE): bits 0-14 the next avail slot, 15 the avail wrap counter, 16-30 the next used
/// slot, 31 the used wrap counter.
/// </summary>
public readonly record struct PackedBase(ushort AvailIdx, bool AvailWrap, ushort UsedIdx, bool UsedWrap)
{
    /// <summary>A fresh ring: both positions 0, both wrap counters 1.</summary>
    public const uint Fresh = 0x8000_8000;

    public uint Encode() =>
        (uint)AvailIdx | (AvailWrap ? 1u << 15 : 0) | (uint)UsedIdx << 16 | (UsedWrap ? 1u << 31 : 0);

    /// <summary>
    /// Decodes a SET_VRING_BASE value. When bits 16-31 are all zero the used half is taken to
    /// equal the avail half: DPDK's GET_VRING_BASE replies with the avail half only (e.g.
    /// 0x8000) and sets used := avail on SET_VRING_BASE, which is right after a drained stop;
    /// QEMU hands that value on unchanged. A drained ring has used == avail anyway, so this
    /// reading never changes the meaning of a value we encoded ourselves.
    /// </summary>
    public static PackedBase Decode(uint num)
    {
        ushort avail = (ushort)(num & 0x7fff);
        bool availWrap = (num & 0x8000) != 0;
        if (num >> 16 == 0)
        {
            return new PackedBase(avail, availWrap, avail, availWrap);
        }
        return new PackedBase(avail, availWrap, (ushort)((num >> 16) & 0x7fff), (num & 0x8000_0000) != 0);
    }

    /// <summary>Why this position cannot belong to a ring of <paramref name="size"/>; null if it can.</summary>
    public string? Check(uint size)
    {
        if (AvailIdx >= size)
        {
            return $"avail index {AvailIdx} (bits 0-14) must be below the ring size {size}";
        }
        if (UsedIdx >= size)
        {
            return $"used index {UsedIdx} (bits 16-30) must be below the ring size {size}";
        }
        return null;
    }
}

/// <summary>Sizes, alignment and limits of the packed virtqueue
/// (docs/protocol.md#packed-ring-layout).</summary>
public static class PackedLayout
{
    /// <summary>2^15: offsets must fit the 15 bits of off_wrap and of the base encoding.</summary>
    public const int MaxQueueSize = 32768;
    public const int DescAlign = 16;
    public const int EventAlign = 4;
    public const int EventBytes = 4;

    public static int DescRingBytes(int qsz) => 16 * qsz;

    /// <summary>Any size in 1..32768: a packed ring need not be a power of two.</summary>
    public static bool IsValidSize(uint qsz) => qsz >= 1 && qsz <= MaxQueueSize;

    /// <summary>Bytes for a ring laid out contiguously: descriptors, then the driver event
    /// area, then the device event area.</summary>
    public static int ContiguousBytes(int qsz, out int driverEventOffset, out int deviceEventOffset)
    {
        driverEventOffset = DescRingBytes(qsz);
        deviceEventOffset = driverEventOffset + EventBytes;
        return deviceEventOffset + EventBytes;
    }
}

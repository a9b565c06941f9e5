using System.Runtime.InteropServices;

namespace PerfLab.Vhost.Virtq;

/// <summary>A split-ring descriptor (16 bytes, docs/protocol.md#split-ring-layout).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct VirtqDesc
{
    public const ushort FlagNext = 1;
    public const ushort FlagWrite = 2;
    public const ushort FlagIndirect = 4;

    /// <summary>Bytes per descriptor (indirect tables are arrays of these).</summary>
    public const uint Size = 16;

    public ulong Addr;
    public uint Len;
    public ushort Flags;
    public ushort Next;
}

/// <summary>A used-ring element (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct VirtqUsedElem
{
    public uint Id;
    public uint Len;
}

/// <summary>Sizes, offsets and limits of the split virtqueue
/// (docs/protocol.md#split-ring-layout).</summary>
public static class SplitLayout
{
    public const int MaxQueueSize = 32768;
    public const ushort AvailFlagNoInterrupt = 1;
    public const ushort UsedFlagNoNotify = 1;

    public const int DescAlign = 16;
    public const int AvailAlign = 2;
    public const int UsedAlign = 4;

    public static int DescTableBytes(int qsz) => 16 * qsz;

    /// <summary>flags, idx, ring[qsz], used_event.</summary>
    public static int AvailBytes(int qsz) => 6 + 2 * qsz;

    /// <summary>flags, idx, ring[qsz] of 8 bytes, avail_event.</summary>
    public static int UsedBytes(int qsz) => 6 + 8 * qsz;

    public static bool IsValidSize(uint qsz) => qsz >= 1 && qsz <= MaxQueueSize && (qsz & (qsz - 1)) == 0;

    /// <summary>Bytes for a ring laid out contiguously (desc, avail, then used on a 4 KiB boundary).</summary>
    public static int ContiguousBytes(int qsz, out int availOffset, out int usedOffset)
    {
        availOffset = DescTableBytes(qsz);
        usedOffset = Align(availOffset + AvailBytes(qsz), 4096);
        return Align(usedOffset + UsedBytes(qsz), 4096);
    }

    public static int Align(int v, int a) => (v + a - 1) & ~(a - 1);
}

/// <summary>The EVENT_IDX arithmetic (docs/protocol.md#notification-suppression), shared by both
/// directions.</summary>
public static class EventIdx
{
    /// <summary>
    /// The spec's <c>vring_need_event</c>: true iff <paramref name="eventIdx"/> lies in
    /// <c>[old, new)</c> modulo 2^16, i.e. the other side asked to be notified at an index this
    /// batch passed. All arithmetic is u16, so it survives the 65535 → 0 wrap.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static bool NeedEvent(ushort eventIdx, ushort newIdx, ushort oldIdx) =>
        (ushort)(newIdx - eventIdx - 1) < (ushort)(newIdx - oldIdx);
}

using System.Runtime.CompilerServices;
using PerfLab.Vhost.Memory;

namespace PerfLab.Vhost.Virtq;

/// <summary>
/// Walks a split-ring descriptor chain (and an indirect table) into host segments, checking
/// every descriptor on access: next within range, length bounded by the queue size (a loop
/// cannot spin), address and length inside guest memory without overflow, the direction the
/// device needs, no nested indirect table, no INDIRECT|NEXT, table length a non-zero multiple
/// of 16. Each descriptor is copied once into a local, because the guest can change it under us.
/// A fault leaves the offending value in <see cref="DescChain.FaultValue"/> for the log.
/// </summary>
public static unsafe class ChainWalker
{
    public const uint MaxIndirectEntries = SplitLayout.MaxQueueSize;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RingFault Walk(GuestMemory mem, VirtqDesc* table, uint tableSize, ushort head, bool indirectAllowed, bool deviceWrites, ref DescChain chain)
    {
        uint idx = head;
        int ttl = (int)tableSize; // chain length bound: the queue size (or the indirect table size)
        bool inIndirect = false;
        while (true)
        {
            if (--ttl < 0)
            {
                chain.FaultValue = tableSize;
                return RingFault.ChainTooLong;
            }
            VirtqDesc d = table[idx]; // one read of guest-controlled memory
            if ((d.Flags & VirtqDesc.FlagIndirect) != 0)
            {
                RingFault f = EnterIndirect(mem, in d, indirectAllowed, inIndirect, out table, out tableSize);
                if (f != RingFault.None)
                {
                    chain.FaultValue = f == RingFault.IndirectBadLength ? d.Len : f == RingFault.IndirectOutsideMemory ? d.Addr : d.Flags;
                    return f;
                }
                inIndirect = true;
                idx = 0;
                ttl = (int)tableSize;
                continue;
            }
            if (((d.Flags & VirtqDesc.FlagWrite) != 0) != deviceWrites)
            {
                chain.FaultValue = d.Flags;
                return RingFault.WrongDirection;
            }
            if (d.Len != 0)
            {
                byte* p = mem.TranslateGpa(d.Addr, d.Len);
                if (p != null)
                {
                    if (!chain.Add(p, d.Len, d.Addr))
                    {
                        chain.FaultValue = (ulong)chain.Capacity;
                        return RingFault.TooManySegments;
                    }
                }
                else
                {
                    RingFault f = AddStraddling(mem, d.Addr, d.Len, ref chain);
                    if (f != RingFault.None)
                    {
                        chain.FaultValue = f == RingFault.TooManySegments ? (ulong)chain.Capacity : d.Addr;
                        return f;
                    }
                }
            }
            if ((d.Flags & VirtqDesc.FlagNext) == 0)
            {
                if (chain.Count == 0)
                {
                    chain.FaultValue = head;
                    return RingFault.ZeroLength;
                }
                return RingFault.None;
            }
            idx = d.Next;
            if (idx >= tableSize)
            {
                chain.FaultValue = idx;
                return RingFault.NextOutOfRange;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static RingFault EnterIndirect(GuestMemory mem, in VirtqDesc d, bool allowed, bool inIndirect, out VirtqDesc* table, out uint size)
    {
        table = null;
        size = 0;
        if (!allowed)
        {
            return RingFault.IndirectNotNegotiated;
        }
        if (inIndirect)
        {
            return RingFault.IndirectNested;
        }
        if ((d.Flags & VirtqDesc.FlagNext) != 0)
        {
            return RingFault.IndirectWithNext;
        }
        if (d.Len == 0 || (d.Len & 15) != 0 || d.Len / 16 > MaxIndirectEntries)
        {
            return RingFault.IndirectBadLength;
        }
        byte* t = mem.TranslateGpa(d.Addr, d.Len);
        if (t == null)
        {
            // A table straddling two regions is legal but not worth supporting: no driver we
            // know allocates one that way; refuse rather than copy it.
            return RingFault.IndirectOutsideMemory;
        }
        table = (VirtqDesc*)t;
        size = d.Len / 16;
        return RingFault.None;
    }

    /// <summary>A buffer that is not inside one region: split it across adjacent regions.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static RingFault AddStraddling(GuestMemory mem, ulong gpa, uint len, ref DescChain chain)
    {
        if (gpa + len < gpa)
        {
            return RingFault.DescOutsideMemory;
        }
        ulong remaining = len;
        int guard = mem.RegionCount;
        while (remaining > 0)
        {
            if (guard-- <= 0)
            {
                return RingFault.DescOutsideMemory;
            }
            byte* p = mem.TranslateGpaPartial(gpa, remaining, out ulong contiguous);
            if (p == null || contiguous == 0)
            {
                return RingFault.DescOutsideMemory;
            }
            if (!chain.Add(p, (uint)contiguous, gpa))
            {
                return RingFault.TooManySegments;
            }
            gpa += contiguous;
            remaining -= contiguous;
        }
        return RingFault.None;
    }
}

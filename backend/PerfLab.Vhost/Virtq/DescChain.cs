using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PerfLab.Vhost.Virtq;

/// <summary>One contiguous piece of a buffer in host memory.</summary>
public unsafe struct Segment
{
    public byte* Ptr;
    public uint Len;
    /// <summary>Guest-physical address of <see cref="Ptr"/>, for the dirty log.</summary>
    public ulong Gpa;
}

/// <summary>
/// A walked descriptor chain: its id (what goes back in the used ring), the ring slots it took,
/// and its buffers as host segments, in order. The segment storage is native memory allocated
/// once per queue, so walking a chain allocates nothing. A chain is either all device-readable
/// (TX) or all device-writable (RX): the walker enforces the direction the device asked for.
/// </summary>
public unsafe struct DescChain
{
    private Segment* _segs;
    private int _capacity;

    /// <summary>The id to return in the used ring (split: head index; packed: buffer id).</summary>
    public ushort Id;

    /// <summary>Ring slots this chain took (packed rings advance by this much; split: 1 head).</summary>
    public ushort SlotCount;

    /// <summary>Number of segments.</summary>
    public int Count;

    /// <summary>Sum of segment lengths.</summary>
    public uint TotalLen;

    /// <summary>After a walk that faulted: the offending value (an address, a length, an index,
    /// flags; see <see cref="RingFaults.Describe"/>). Written on fault paths only.</summary>
    public ulong FaultValue;

    public readonly int Capacity => _capacity;

    public readonly bool IsAllocated => _segs != null;

    /// <summary>Allocates storage for <paramref name="capacity"/> segments.</summary>
    public static DescChain Allocate(int capacity)
    {
        var c = default(DescChain);
        c._segs = (Segment*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(Segment));
        c._capacity = capacity;
        return c;
    }

    public void Free()
    {
        if (_segs != null)
        {
            NativeMemory.Free(_segs);
            _segs = null;
            _capacity = 0;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Reset()
    {
        Count = 0;
        TotalLen = 0;
        SlotCount = 0;
    }

    /// <summary>Appends a segment; false if the chain is full (caller treats it as overlong).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Add(byte* p, uint len, ulong gpa)
    {
        if (Count >= _capacity)
        {
            return false;
        }
        Segment* s = _segs + Count;
        s->Ptr = p;
        s->Len = len;
        s->Gpa = gpa;
        Count++;
        TotalLen += len;
        return true;
    }

    public readonly ref Segment this[int i]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => ref _segs[i];
    }

    /// <summary>A span over segment <paramref name="i"/>.</summary>
    public readonly Span<byte> SegmentSpan(int i) => new(_segs[i].Ptr, (int)_segs[i].Len);
}

/// <summary>Outcome of taking a chain from a ring.</summary>
public enum PopStatus : byte
{
    /// <summary>A valid chain was taken.</summary>
    Ok = 0,
    /// <summary>The driver has made nothing available.</summary>
    Empty = 1,
    /// <summary>The ring or a chain is malformed; the ring is now broken and stays so until reset.</summary>
    Broken = 2,
}

/// <summary>Why a ring was marked broken (counted and logged by the owner).</summary>
public enum RingFault : byte
{
    None = 0,
    AvailIndexJump,
    HeadOutOfRange,
    NextOutOfRange,
    ChainTooLong,
    DescOutsideMemory,
    ZeroLength,
    WrongDirection,
    IndirectNested,
    IndirectWithNext,
    IndirectBadLength,
    IndirectNotNegotiated,
    IndirectOutsideMemory,
    TooManySegments,
    PackedBadId,
    /// <summary>The ring's memory is no longer in the memory table.</summary>
    RingUnmapped,
    /// <summary>Packed ring: a descriptor chained with NEXT is not marked available.</summary>
    PackedChainIncomplete,
}

/// <summary>Log text for a ring fault: the field, the offending value and the rule.</summary>
public static class RingFaults
{
    public static string Describe(RingFault f, ulong v, uint queueSize) => f switch
    {
        RingFault.AvailIndexJump => $"avail.idx=0x{v:x} is more than the queue size ({queueSize}) past the last index taken",
        RingFault.HeadOutOfRange => $"head=0x{v:x} must be below the queue size ({queueSize})",
        RingFault.NextOutOfRange => $"next=0x{v:x} must be below the size of its table",
        RingFault.ChainTooLong => $"chain longer than its table of {v} descriptors (a loop, or an overlong chain)",
        RingFault.DescOutsideMemory => $"addr=0x{v:x} with its len is not inside guest memory",
        RingFault.ZeroLength => $"buffer 0x{v:x} has no bytes",
        RingFault.WrongDirection => $"flags=0x{v:x}: the WRITE bit is wrong for this queue (RX buffers are device-writable, TX device-readable)",
        RingFault.IndirectNested => $"flags=0x{v:x}: an indirect table inside an indirect table",
        RingFault.IndirectWithNext => $"flags=0x{v:x}: INDIRECT may not be chained with NEXT",
        RingFault.IndirectBadLength => $"len=0x{v:x} of an indirect table must be a non-zero multiple of 16, at most {ChainWalker.MaxIndirectEntries} entries",
        RingFault.IndirectNotNegotiated => $"flags=0x{v:x}: INDIRECT without RING_INDIRECT_DESC negotiated",
        RingFault.IndirectOutsideMemory => $"indirect table addr=0x{v:x} with its len is not inside one memory region",
        RingFault.TooManySegments => $"a buffer of more than {v} segments (longer than the queue)",
        RingFault.PackedBadId => $"id=0x{v:x} must be below the queue size ({queueSize})",
        RingFault.RingUnmapped => "the ring's memory is no longer in the memory table",
        RingFault.PackedChainIncomplete => $"slot {v} is chained with NEXT but not available",
        _ => $"value 0x{v:x}",
    };
}

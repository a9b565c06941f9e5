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

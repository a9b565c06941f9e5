using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using PerfLab.Vhost.Memory;

namespace PerfLab.Vhost.Virtq;

/// <summary>
/// Device side of a packed virtqueue (docs/protocol.md#packed-virtqueue). A mutable struct: keep it
/// in a non-readonly field and pass it by ref, or every call works on a copy.
///
/// One ring of descriptors is shared both ways: the driver marks a slot available with
/// AVAIL = its wrap counter and USED = the inverse; the device overwrites the first slot of a
/// finished buffer with a used descriptor whose AVAIL and USED both equal its used wrap counter.
/// Each side keeps a wrap counter per direction, starting at 1 and flipped at every lap.
///
/// Memory ordering, as the spec's steps (docs/protocol.md#packed-ring-device-steps and
/// docs/protocol.md#packed-ring-notifications):
/// <list type="bullet">
/// <item>acquire-load a slot's flags, then read the rest of the descriptor (and the chain and
/// buffers behind it): the driver writes flags last, the head's flags after the whole chain;</item>
/// <item>write id and len of every used descriptor of a batch and the flags of all but the
/// first (one 8-byte store each: len, id and flags become visible together), then
/// release-store the first one's flags (one store publishes the batch): the driver never sees
/// a later descriptor of the batch used before the first;</item>
/// <item>full fence between that store and reading the driver event area;</item>
/// <item>full fence between re-enabling kicks and re-reading the next slot's flags.</item>
/// </list>
/// Every guest-controlled value is read once into a local and checked before use; a malformed
/// ring sets <see cref="Fault"/> and stays broken until the ring is restarted.
/// </summary>
public unsafe struct PackedRing : IDeviceRing
{
    /// <summary>Default number of slots <see cref="Available"/> scans for complete chains.</summary>
    public const int DefaultScanLimit = 256;

    private PackedDesc* _desc;
    private uint* _driverEvent;       // driver event suppression: the driver writes, we read
    private uint* _deviceEvent;       // device event suppression: we write, the driver reads

    private ushort _size;
    private ushort _nextAvail;        // next slot to take
    private ushort _availBits;        // AVAIL/USED bits of an available slot in the current lap
    private ushort _nextUsed;         // next slot to write a used descriptor (published + pending)
    private ushort _usedBits;         // AVAIL/USED bits we write in the current used lap
    private ushort _firstPendingSlot; // slot of the first unpublished used descriptor
    private ushort _firstPendingFlags;
    private int _pending;             // used descriptors pushed and not published
    private int _availKnown;          // complete chains known available from _nextAvail
    private int _scanLimit;
    private ushort _signalledUsed;    // _nextUsed at the last call decision (EVENT_IDX "old")
    private bool _signalledValid;
    private bool _eventIdx;
    private bool _indirect;
    private bool _inOrder;
    private bool _batchOpen;          // IN_ORDER: an unpublished used descriptor at _batchSlot covers a batch
    private ushort _batchSlot;
    private Memory.DirtyLog? _usedLog;  // migration: log our writes to the ring itself
    private ulong _descGpa;
    private ulong _deviceEventGpa;

    /// <summary>Why the ring is broken; <see cref="RingFault.None"/> while healthy.</summary>
    public RingFault Fault { readonly get; set; }

    /// <summary>The offending value of <see cref="Fault"/> (see <see cref="RingFaults.Describe"/>).</summary>
    public ulong FaultValue { readonly get; private set; }

    public readonly ushort Size => _size;
    public readonly bool IsBroken => Fault != RingFault.None;
    public readonly bool IsConfigured => _desc != null;
    public readonly ushort NextAvail => _nextAvail;
    public readonly bool AvailWrap => _availBits == PackedDesc.FlagAvail;
    public readonly ushort NextUsed => _nextUsed;
    public readonly bool UsedWrap => _usedBits != 0;
    public readonly bool EventIdxEnabled => _eventIdx;
    public readonly bool InOrder => _inOrder;

    /// <summary>Number of used descriptors pushed but not yet published.</summary>
    public readonly int PendingUsed => _pending;

    /// <summary>
    /// Attaches to a ring whose three parts were already translated and bounds-checked
    /// (<see cref="PackedRingAddresses.AttachPacked"/> does both). <paramref name="encodedBase"/>
    /// is SET_VRING_BASE's value (<see cref="PackedBase.Decode"/>; a fresh ring is
    /// <see cref="PackedBase.Fresh"/>) and must fit the size (<see cref="PackedBase.Check"/>).
    /// If its used position differs from its avail position, the avail position is moved back
    /// to the used one: the buffers in between were taken by a previous back-end and never
    /// returned, and their descriptors are still in the ring, so they are taken again (as the
    /// split ring resyncs to used.idx) rather than left to stall the driver. With
    /// <paramref name="inOrder"/> (VIRTIO_F_IN_ORDER negotiated), buffers returned with nothing
    /// written are batched: one used descriptor per batch (see <see cref="PushUsedBurstEmpty"/>).
    /// </summary>
    public static PackedRing Attach(byte* desc, byte* driverEvent, byte* deviceEvent, ushort size, uint encodedBase, bool eventIdx, bool indirect, out bool resynced, int scanLimit = DefaultScanLimit, bool inOrder = false)
    {
        if (!PackedLayout.IsValidSize(size))
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "packed ring size must be in 1..32768");
        }
        PackedBase b = PackedBase.Decode(encodedBase);
        if (b.Check(size) is { } why)
        {
            throw new ArgumentOutOfRangeException(nameof(encodedBase), encodedBase, why);
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(scanLimit, 1);
        resynced = b.AvailIdx != b.UsedIdx || b.AvailWrap != b.UsedWrap;
        var r = default(PackedRing);
        r._desc = (PackedDesc*)desc;
        r._driverEvent = (uint*)driverEvent;
        r._deviceEvent = (uint*)deviceEvent;
        r._size = size;
        r._nextAvail = b.UsedIdx;
        r._availBits = PackedDesc.AvailBits(b.UsedWrap);
        r._nextUsed = b.UsedIdx;
        r._usedBits = PackedDesc.UsedBits(b.UsedWrap);
        r._scanLimit = Math.Min(scanLimit, (int)size);
        r._eventIdx = eventIdx;
        r._indirect = indirect;
        r._inOrder = inOrder;
        return r;
    }

    /// <summary>
    /// Points a running ring at new host addresses after the memory table changed (same guest
    /// ring, new mapping); positions and notification state are kept.
    /// </summary>
    public void Retranslate(byte* desc, byte* driverEvent, byte* deviceEvent)
    {
        _desc = (PackedDesc*)desc;
        _driverEvent = (uint*)driverEvent;
        _deviceEvent = (uint*)deviceEvent;
    }

    /// <summary>
    /// The position for GET_VRING_BASE (<see cref="PackedBase.Encode"/>). Publish and drain
    /// first: pending used descriptors count as used here.
    /// </summary>
    public readonly uint EncodeBase() => new PackedBase(_nextAvail, AvailWrap, _nextUsed, UsedWrap).Encode();

    /// <summary>
    /// A lower bound on the chains available now, without taking them: the complete chains in
    /// the run of available slots from the next one, scanning at most the scan limit, and at
    /// least 1 when the next slot is available (a chain longer than the scan, or a malformed
    /// one that <see cref="TryPop"/> will report). The count is remembered and used up by
    /// <see cref="TryPop"/> and <see cref="TakeSingles"/>, so each slot is scanned once.
    /// -1 if the ring is broken.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Available()
    {
        if (Fault != RingFault.None)
        {
            return -1;
        }
        int known = _availKnown;
        return known > 0 ? known : Scan();
    }

    private int Scan()
    {
        PackedDesc* ring = _desc;
        uint size = _size;
        uint idx = _nextAvail;
        uint bits = _availBits;
        int limit = _scanLimit;
        int chains = 0;
        int i = 0;
        for (; i < limit; i++)
        {
            // Acquire (docs/protocol.md#packed-ring-device-steps, step 1): a slot seen available
            // was written before its flags, and a head's whole chain before the head's flags, so
            // the NEXT bits we count are final.
            uint f = Volatile.Read(ref ring[idx].Flags);
            if ((f & PackedDesc.WrapMask) != bits)
            {
                break;
            }
            if ((f & PackedDesc.FlagNext) == 0)
            {
                chains++;
            }
            if (++idx == size)
            {
                idx = 0;
                bits ^= PackedDesc.WrapMask;
            }
        }
        if (chains == 0 && i > 0)
        {
            chains = 1;
        }
        _availKnown = chains;
        return chains;
    }

    /// <summary>
    /// Takes the next available buffer and walks it into <paramref name="chain"/>, checking
    /// every descriptor (docs/protocol.md#untrusted-descriptors): each slot of a NEXT chain must be
    /// available too, the chain is at most the queue size, the buffer id (from the last
    /// descriptor) is below the queue size, an INDIRECT descriptor stands alone and points to a
    /// table of len/16 entries with no nested INDIRECT, every buffer lies inside guest memory,
    /// and every descriptor has the direction the device needs (<paramref name="deviceWrites"/>:
    /// true for RX, false for TX). <see cref="DescChain.SlotCount"/> is what
    /// <see cref="PushUsed"/> needs back.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PopStatus TryPop(GuestMemory mem, ref DescChain chain, bool deviceWrites)
    {
        if (Fault != RingFault.None)
        {
            return PopStatus.Broken;
        }
        PackedDesc* d = _desc + _nextAvail;
        // Acquire (docs/protocol.md#packed-ring-device-steps, step 1): flags first; the rest of the
        // descriptor, the chain after it and the buffers were written before the driver stored
        // them.
        uint f = Volatile.Read(ref d->Flags);
        if ((f & PackedDesc.WrapMask) != _availBits)
        {
            _availKnown = 0;
            return PopStatus.Empty;
        }
        RingFault fault = Walk(mem, d, f, deviceWrites, ref chain);
        if (fault != RingFault.None)
        {
            Fault = fault;
            FaultValue = chain.FaultValue;
            return PopStatus.Broken;
        }
        if (_availKnown > 0)
        {
            _availKnown--;
        }
        return PopStatus.Ok;
    }

    /// <summary>Walks the buffer whose first descriptor is <paramref name="d"/> (flags
    /// <paramref name="f"/> already loaded and available); advances the avail position on success.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private RingFault Walk(GuestMemory mem, PackedDesc* d, uint f, bool deviceWrites, ref DescChain chain)
    {
        chain.Reset();
        PackedDesc* ring = _desc;
        uint size = _size;
        uint idx = _nextAvail;
        uint bits = _availBits;
        uint slots = 0;
        while (true)
        {
            // The rest of the descriptor, read once (docs/protocol.md#untrusted-descriptors); the
            // flags are already in f.
            ulong addr = d->Addr;
            uint len = d->Len;
            ushort id = d->Id;
            slots++;
            if (++idx == size)
            {
                idx = 0;
                bits ^= PackedDesc.WrapMask;
            }
            if ((f & PackedDesc.FlagIndirect) != 0)
            {
                RingFault fi = EnterIndirect(mem, f, slots, addr, len, _indirect, deviceWrites, ref chain);
                if (fi != RingFault.None)
                {
                    return fi;
                }
                f = 0; // the table ends the buffer: an INDIRECT descriptor has no NEXT
            }
            else
            {
                if (((f & PackedDesc.FlagWrite) != 0) != deviceWrites)
                {
                    chain.FaultValue = f;
                    return RingFault.WrongDirection;
                }
                if (len != 0)
                {
                    RingFault fa = AddBuffer(mem, addr, len, deviceWrites, ref chain);
                    if (fa != RingFault.None)
                    {
                        return fa;
                    }
                }
            }
            if ((f & PackedDesc.FlagNext) == 0)
            {
                if (id >= size)
                {
                    chain.FaultValue = id;
                    return RingFault.PackedBadId;
                }
                if (chain.Count == 0)
                {
                    chain.FaultValue = id;
                    return RingFault.ZeroLength;
                }
                chain.Id = id;
                chain.SlotCount = (ushort)slots;
                _nextAvail = (ushort)idx;
                _availBits = (ushort)bits;
                return RingFault.None;
            }
            if (slots >= size)
            {
                chain.FaultValue = size;
                return RingFault.ChainTooLong; // bounded by the queue size: a ring of NEXTs cannot spin
            }
            d = ring + idx;
            // Acquire, as for the head (the head's acquire already ordered this slot; loading
            // flags first keeps "flags, then the rest" true of every descriptor).
            f = Volatile.Read(ref d->Flags);
            if ((f & PackedDesc.WrapMask) != bits)
            {
                chain.FaultValue = idx;
                return RingFault.PackedChainIncomplete;
            }
        }
    }

    /// <summary>An INDIRECT descriptor: alone in its buffer, negotiated, a table of len/16
    /// entries read in order; inside it only WRITE counts, and INDIRECT (nesting) is refused.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static RingFault EnterIndirect(GuestMemory mem, uint flags, uint slots, ulong addr, uint len, bool allowed, bool deviceWrites, ref DescChain chain)
    {
        if (!allowed)
        {
            chain.FaultValue = flags;
            return RingFault.IndirectNotNegotiated;
        }
        if ((flags & PackedDesc.FlagNext) != 0 || slots != 1)
        {
            chain.FaultValue = flags;
            return RingFault.IndirectWithNext; // the spec forbids INDIRECT in a NEXT chain
        }
        if (len == 0 || (len & 15) != 0 || len / 16 > ChainWalker.MaxIndirectEntries)
        {
            chain.FaultValue = len;
            return RingFault.IndirectBadLength;
        }
        byte* t = mem.TranslateGpa(addr, len);
        if (t == null)
        {
            chain.FaultValue = addr;
            // As ChainWalker: a table straddling two regions is legal but no driver we know
            // allocates one that way; refuse rather than copy it.
            return RingFault.IndirectOutsideMemory;
        }
        PackedDesc* table = (PackedDesc*)t;
        uint n = len / 16;
        for (uint i = 0; i < n; i++)
        {
            // One read of guest-controlled memory. The table is not part of the flags
            // handshake (the driver wrote it before the ring slot), so a plain copy.
            PackedDesc e = table[i];
            if ((e.Flags & PackedDesc.FlagIndirect) != 0)
            {
                chain.FaultValue = e.Flags;
                return RingFault.IndirectNested;
            }
            if (((e.Flags & PackedDesc.FlagWrite) != 0) != deviceWrites)
            {
                chain.FaultValue = e.Flags;
                return RingFault.WrongDirection;
            }
            if (e.Len != 0)
            {
                RingFault f = AddBuffer(mem, e.Addr, e.Len, deviceWrites, ref chain);
                if (f != RingFault.None)
                {
                    return f;
                }
            }
        }
        return RingFault.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static RingFault AddBuffer(GuestMemory mem, ulong addr, uint len, bool deviceWrites, ref DescChain chain)
    {
        byte* p = mem.TranslateGpa(addr, len);
        if (p != null)
        {
            if (chain.Add(p, len, addr))
            {
                return RingFault.None;
            }
            chain.FaultValue = (ulong)chain.Capacity;
            return RingFault.TooManySegments;
        }
        return AddStraddling(mem, addr, len, deviceWrites, ref chain);
    }

    /// <summary>A buffer not inside one region: ChainWalker owns the split across adjacent
    /// regions (and the outside-memory verdict), so hand it this one buffer as a one-entry
    /// split table.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static RingFault AddStraddling(GuestMemory mem, ulong addr, uint len, bool deviceWrites, ref DescChain chain)
    {
        VirtqDesc one = new() { Addr = addr, Len = len, Flags = deviceWrites ? VirtqDesc.FlagWrite : (ushort)0 };
        return ChainWalker.Walk(mem, &one, 1, 0, indirectAllowed: false, deviceWrites, ref chain);
    }

    /// <summary>
    /// Burst fast path (see <see cref="IDeviceRing.TakeSingles"/>): buffers of one available
    /// descriptor, no NEXT, no INDIRECT, the needed direction, translated in one piece. Ring
    /// state is held in locals for the loop: the JIT cannot keep struct fields in registers
    /// across writes through guest-memory pointers, and this loop is the per-frame cost.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int TakeSingles(GuestMemory mem, Span<BufRef> dst, bool deviceWrites)
    {
        if (Fault != RingFault.None)
        {
            return 0;
        }
        PackedDesc* ring = _desc;
        uint size = _size;
        uint idx = _nextAvail;
        uint bits = _availBits;
        const uint Checked = PackedDesc.WrapMask | PackedDesc.FlagNext | PackedDesc.FlagIndirect | PackedDesc.FlagWrite;
        uint want = bits | (deviceWrites ? PackedDesc.FlagWrite : 0u);
        if (dst.Length > 4)
        {
            PrefetchSlots(ring, idx, size, (uint)dst.Length);
        }
        int i = 0;
        for (; i < dst.Length; i++)
        {
            PackedDesc* d = ring + idx;
            // Acquire (docs/protocol.md#packed-ring-device-steps, step 1): flags first, then the
            // rest of the descriptor and the buffer.
            uint f = Volatile.Read(ref d->Flags);
            if ((f & Checked) != want)
            {
                break; // not available, or a chain, indirect or wrong direction: the general path decides
            }
            ulong addr = d->Addr;
            uint len = d->Len;
            ushort id = d->Id;
            if (id >= size)
            {
                Fault = RingFault.PackedBadId;
                FaultValue = id;
                break;
            }
            if (len == 0)
            {
                break; // empty: the general path reports it
            }
            byte* p = mem.TranslateGpa(addr, len);
            if (p == null)
            {
                break; // straddles regions or is outside memory: the general path decides
            }
            ref BufRef b = ref dst[i];
            b.Ptr = p;
            b.Len = len;
            b.Id = id;
            b.Slots = 1;
            b.Gpa = addr;
            if (++idx == size)
            {
                idx = 0;
                want ^= PackedDesc.WrapMask;
            }
        }
        _nextAvail = (ushort)idx;
        _availBits = (ushort)(want & PackedDesc.WrapMask);
        _availKnown = Math.Max(0, _availKnown - i);
        return i;
    }

    /// <summary>
    /// Starts the cache misses of the <paramref name="count"/> slots from <paramref name="idx"/>
    /// (four descriptors a line) at once, as DPDK's vhost prefetches the next descriptors: the
    /// driver wrote them on the other core, and the burst loop, which reads one descriptor at a
    /// time behind a flags check, would otherwise take the misses one line after another. A
    /// prefetch is a hint: it reads nothing into the program, so it needs no ordering.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchSlots(PackedDesc* ring, uint idx, uint size, uint count)
    {
        if (!Sse.IsSupported)
        {
            return;
        }
        for (uint k = 4; k < count; k += 4)
        {
            uint s = idx + k;
            Sse.Prefetch0(ring + (s < size ? s : s - size));
        }
        uint last = idx + count - 1; // the line of the last slot, when idx is not line-aligned
        Sse.Prefetch0(ring + (last < size ? last : last - size));
    }

    /// <summary>Gives back the burst taken since <paramref name="mark"/> except its first
    /// <paramref name="keep"/> buffers (one slot each: <see cref="TakeSingles"/> takes no chains).</summary>
    public void RewindBurst(uint mark, int keep)
    {
        uint idx = (mark & PackedEventSuppress.OffsetMask) + (uint)keep;
        bool wrap = (mark & PackedEventSuppress.WrapBit) != 0;
        if (idx >= _size)
        {
            idx -= _size;
            wrap = !wrap;
        }
        _nextAvail = (ushort)idx;
        _availBits = PackedDesc.AvailBits(wrap);
        _availKnown = 0;
    }

    /// <summary>A position to rewind to: the next avail slot | avail wrap &lt;&lt; 15 (the
    /// low half of the base encoding).</summary>
    public readonly uint MarkPosition() => (uint)_nextAvail | (AvailWrap ? PackedEventSuppress.WrapBit : 0u);

    /// <summary>Gives back every buffer taken since <paramref name="mark"/>; nothing was used.</summary>
    public void RewindTo(uint mark)
    {
        _nextAvail = (ushort)(mark & PackedEventSuppress.OffsetMask);
        _availBits = PackedDesc.AvailBits((mark & PackedEventSuppress.WrapBit) != 0);
        _availKnown = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PushUsedBurst(ReadOnlySpan<BufRef> bufs) => PushBurst(bufs, empty: false);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PushUsedBurstEmpty(ReadOnlySpan<BufRef> bufs) => PushBurst(bufs, empty: true);

    /// <summary>
    /// Writes a burst's used descriptors as one batch (DPDK's vhost_flush_enqueue_batch_packed and
    /// vhost_shadow_dequeue_batch_packed, generalised to a burst): id and len of the batch's first
    /// descriptor now, its flags at <see cref="Publish"/>; every other descriptor in one 8-byte
    /// store of len, id and flags. With IN_ORDER, a burst returned with nothing written is one
    /// used descriptor (<see cref="PushInOrderEmpty"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PushBurst(ReadOnlySpan<BufRef> bufs, bool empty)
    {
        if (bufs.Length == 0)
        {
            return;
        }
        if (empty && _inOrder)
        {
            uint slots = 0;
            for (int k = 0; k < bufs.Length; k++)
            {
                slots += bufs[k].Slots;
            }
            PushInOrderEmpty(bufs[^1].Id, slots, bufs.Length);
            return;
        }
        _batchOpen = false; // descriptors with lengths stand alone, even with IN_ORDER
        PackedDesc* ring = _desc;
        uint size = _size;
        uint next = _nextUsed;
        uint used = _usedBits;
        int i = 0;
        if (_pending == 0)
        {
            // The first of the batch: id and len now, flags at Publish.
            uint len0 = empty ? 0 : bufs[0].Len;
            PackedDesc* d0 = ring + next;
            d0->Id = bufs[0].Id;
            d0->Len = len0;
            _firstPendingSlot = (ushort)next;
            _firstPendingFlags = (ushort)(used | (len0 != 0 ? PackedDesc.FlagWrite : 0u));
            next += bufs[0].Slots;
            if (next >= size)
            {
                next -= size;
                used ^= PackedDesc.WrapMask;
            }
            i = 1;
        }
        for (; i < bufs.Length; i++)
        {
            uint len = empty ? 0 : bufs[i].Len;
            // Plain store (docs/protocol.md#packed-ring-device-steps, step 3, batch order): the
            // driver reaches this slot only after the first pending one, whose release store in
            // Publish orders this one (and the data written into its buffer) before it. Len, id
            // and flags in one store: the slot never shows the flags without its id and len.
            PackedDesc.WriteLenIdFlags(ring + next, len, bufs[i].Id, (ushort)(used | (len != 0 ? PackedDesc.FlagWrite : 0u)));
            next += bufs[i].Slots;
            if (next >= size)
            {
                next -= size;
                used ^= PackedDesc.WrapMask;
            }
        }
        _nextUsed = (ushort)next;
        _usedBits = (ushort)used;
        _pending += bufs.Length;
    }

    /// <summary>
    /// Returns buffer <paramref name="id"/>, which took <paramref name="slots"/> ring slots
    /// (<see cref="DescChain.SlotCount"/>, or 1 for a burst buffer), with
    /// <paramref name="written"/> bytes written into it. The used descriptor goes into the next
    /// used slot; the driver sees it at the next <see cref="Publish"/>. With IN_ORDER, a buffer
    /// with nothing written joins the open batch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PushUsed(ushort id, uint written, ushort slots)
    {
        if (_inOrder && written == 0)
        {
            PushInOrderEmpty(id, slots, 1);
            return;
        }
        _batchOpen = false;
        uint next = _nextUsed;
        PackedDesc* d = _desc + next;
        ushort flags = (ushort)(_usedBits | (written != 0 ? PackedDesc.FlagWrite : 0));
        if (_pending == 0)
        {
            d->Id = id;
            d->Len = written;
            _firstPendingSlot = (ushort)next;
            _firstPendingFlags = flags;
        }
        else
        {
            // Plain store (docs/protocol.md#packed-ring-device-steps, step 3, batch order):
            // published by the first one's release.
            PackedDesc.WriteLenIdFlags(d, written, id, flags);
        }
        _pending++;
        next += slots;
        if (next >= _size)
        {
            next -= _size;
            _usedBits ^= PackedDesc.WrapMask;
        }
        _nextUsed = (ushort)next;
    }

    /// <summary>
    /// IN_ORDER batching for packed rings (virtio spec, "In-order use of descriptors";
    /// docs/protocol.md#descriptor-chains; DPDK's vhost_shadow_dequeue_batch_packed_inorder): the
    /// device used every buffer in the order it was made available, so buffers returned with
    /// nothing written go back as ONE used descriptor, in the batch's first slot, holding the id
    /// of the batch's last buffer; the used position skips every slot of the batch (the wrap
    /// counter flips where it crosses the ring's end, and the descriptor carries the counter of
    /// its own slot). The driver walks its buffers from its next used slot up to that id. The
    /// batch stays open until the next publish (the driver must not see the id change after it
    /// can read the descriptor) or a descriptor with a length.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PushInOrderEmpty(ushort lastId, uint slots, int buffers)
    {
        uint next = _nextUsed;
        if (!_batchOpen)
        {
            _batchOpen = true;
            _batchSlot = (ushort)next;
            PackedDesc* d = _desc + next;
            if (_pending == 0)
            {
                // The first pending descriptor: flags at Publish, with release.
                d->Id = lastId;
                d->Len = 0;
                _firstPendingSlot = (ushort)next;
                _firstPendingFlags = _usedBits;
            }
            else
            {
                // Plain store: published by the first pending one's release, as in PushBurst.
                PackedDesc.WriteLenIdFlags(d, 0, lastId, _usedBits);
            }
        }
        else
        {
            // Plain store: the batch's descriptor is not published yet (a publish closes the
            // batch), so the driver reads only the final id, after Publish's release.
            _desc[_batchSlot].Id = lastId;
        }
        _pending += buffers;
        next += slots;
        if (next >= _size)
        {
            next -= _size;
            _usedBits ^= PackedDesc.WrapMask;
        }
        _nextUsed = (ushort)next;
    }

    /// <summary>
    /// Publishes pending used descriptors with one release store (the first one's flags) and
    /// decides whether the driver must be called (docs/protocol.md#packed-ring-notifications). With
    /// <paramref name="canCall"/> false (no call fd) the decision, and its full fence, is
    /// skipped, and the next decision calls unconditionally (its "old" position is stale).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PublishResult Publish(bool canCall)
    {
        if (_pending == 0)
        {
            return PublishResult.Nothing;
        }
        // Release (docs/protocol.md#packed-ring-device-steps, step 3): ids and lens of the batch,
        // the other flags and the data written into the buffers, before the first descriptor's
        // flags.
        Volatile.Write(ref _desc[_firstPendingSlot].Flags, _firstPendingFlags);
        if (_usedLog != null)
        {
            LogUsedSlots();
        }
        _pending = 0;
        _batchOpen = false; // the driver may read it now: never changed again
        if (!canCall)
        {
            _signalledValid = false;
            return PublishResult.Suppressed;
        }
        return NeedsCall() ? PublishResult.Call : PublishResult.Suppressed;
    }

    /// <summary>Not deferred on packed rings yet: publishes everything.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PublishResult PublishDeferred(bool canCall) => Publish(canCall);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool NeedsCall()
    {
        // Full fence between the flags store and reading the driver event area
        // (docs/protocol.md#packed-ring-notifications): Volatile alone lets the load pass the
        // store, and then both sides can miss.
        Interlocked.MemoryBarrier();
        // Acquire: off_wrap and flags in one load.
        uint ev = Volatile.Read(ref *_driverEvent);
        ushort flags = PackedEventSuppress.FlagsOf(ev);
        if (!_eventIdx)
        {
            return flags != PackedEventSuppress.FlagsDisable;
        }
        ushort old = _signalledUsed;
        bool valid = _signalledValid;
        _signalledUsed = _nextUsed;
        _signalledValid = true;
        if (flags != PackedEventSuppress.FlagsDesc)
        {
            return flags != PackedEventSuppress.FlagsDisable;
        }
        return !valid || PackedEventSuppress.NeedEvent(ev, _nextUsed, old, UsedWrap, _size);
    }

    /// <summary>
    /// Asks the driver to kick on the next buffer (ENABLE, or with EVENT_IDX, DESC at the next
    /// avail slot) and checks whether one arrived meanwhile. Returns true if work is pending:
    /// the caller must not sleep.
    /// </summary>
    public bool EnableKicks() => EnableKicks(1);

    /// <summary>
    /// As <see cref="EnableKicks()"/>, but with EVENT_IDX the driver kicks only when it makes
    /// the descriptor <paramref name="ahead"/> - 1 slots past the next one available (the
    /// ahead-th single-descriptor buffer; clamped to the ring); without EVENT_IDX, a kick per buffer.
    /// </summary>
    public bool EnableKicks(int ahead)
    {
        uint image = _eventIdx
            ? PackedEventSuppress.DescAhead(_nextAvail, AvailWrap, Math.Clamp(ahead, 1, _size) - 1, _size)
            : PackedEventSuppress.Pack(PackedEventSuppress.FlagsEnable);
        // Release, one u32 store: off_wrap never pairs with another moment's flags
        // (docs/protocol.md#packed-ring-notifications).
        Volatile.Write(ref *_deviceEvent, image);
        _usedLog?.Mark(_deviceEventGpa, 4);
        // Full fence between re-enabling notifications and re-reading the next slot
        // (docs/protocol.md#packed-ring-notifications).
        Interlocked.MemoryBarrier();
        // Acquire: the next slot's flags, as TryPop would read them.
        return (Volatile.Read(ref _desc[_nextAvail].Flags) & PackedDesc.WrapMask) == _availBits;
    }

    /// <summary>Tells the driver not to kick (busy polling): DISABLE, with or without EVENT_IDX.</summary>
    public void DisableKicks()
    {
        // Release, one u32 store (docs/protocol.md#packed-ring-notifications).
        Volatile.Write(ref *_deviceEvent, PackedEventSuppress.Pack(PackedEventSuppress.FlagsDisable));
        _usedLog?.Mark(_deviceEventGpa, 4);
    }

    /// <summary>
    /// Migration (LOG_ALL with the ring's log flag): log the device's own writes to the ring,
    /// i.e. the used descriptors written back into the descriptor ring and the device event
    /// area, at their guest-physical addresses (as DPDK logs packed rings). Null stops logging.
    /// </summary>
    public void SetUsedLog(Memory.DirtyLog? log, ulong descGpa, ulong deviceEventGpa)
    {
        _usedLog = log;
        _descGpa = descGpa;
        _deviceEventGpa = deviceEventGpa;
    }

    /// <summary>Marks the slots from the first pending used descriptor to the next used slot
    /// (a chain writes one descriptor and skips the rest: marking them all only over-logs).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private readonly void LogUsedSlots()
    {
        Memory.DirtyLog log = _usedLog!;
        int first = _firstPendingSlot;
        int count = (_nextUsed - first + _size) % _size;
        if (count == 0)
        {
            count = _size; // a whole lap was pending
        }
        int head = Math.Min(count, _size - first);
        log.Mark(_descGpa + 16UL * (uint)first, 16UL * (uint)head);
        if (count > head)
        {
            log.Mark(_descGpa, 16UL * (uint)(count - head));
        }
    }

    /// <summary>The driver event area as one u32 (diagnostics, tests).</summary>
    public readonly uint ReadDriverEvent() => Volatile.Read(ref *_driverEvent);

    /// <summary>The device event area as one u32 (diagnostics, tests).</summary>
    public readonly uint ReadDeviceEvent() => Volatile.Read(ref *_deviceEvent);
}

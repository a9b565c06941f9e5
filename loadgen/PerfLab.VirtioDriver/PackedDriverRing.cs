using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using PerfLab.Vhost.Virtq;

namespace PerfLab.VirtioDriver;

/// <summary>
/// Driver (guest) side of a packed virtqueue, over memory the driver owns. The load generator
/// and the tests use it as the other party of <see cref="PackedRing"/>. The caller picks each
/// buffer's id (below the queue size, not in flight); this type owns the slots, the wrap
/// counters, the slot count of every id in flight and the notification rules.
///
/// Posting writes every descriptor of a batch but holds back the flags of the batch's first
/// slot; <see cref="Publish"/> stores them with release, so the device sees the batch at once
/// (the spec's "flags of the first descriptor last", applied to a batch of buffers).
///
/// Memory ordering (docs/protocol.md#packed-ring-device-steps): write descriptors, release-store
/// the first flags, full fence, then read the device event area to decide the kick; acquire-load a
/// used slot's flags before its id and len; when re-enabling interrupts write the driver event
/// area, full fence, re-check the next used slot.
///
/// Per-id state (the slots an id in flight takes, and the buffer bound to it by <see cref="Bind"/>)
/// is one 16-byte entry per id in a pinned array read through a pointer: a post reads one entry,
/// with no bounds check, as DPDK's driver keeps its <c>vq_descx</c>. A descriptor is written with
/// one 16-byte store; a used descriptor's len, id and flags are read with one 8-byte load.
/// </summary>
public unsafe struct PackedDriverRing
{
    private PackedDesc* _desc;
    private uint* _driverEvent;       // we write: used-buffer notification suppression
    private uint* _deviceEvent;       // we read: available-buffer notification suppression
    private IdState[] _idArray;       // pinned: keeps _ids alive
    private IdState* _ids;            // per id: bound buffer, slots taken in flight (0 = free id)
    private ushort _size;
    private ushort _nextAvail;        // next slot to fill
    private ushort _availBits;        // AVAIL/USED bits we write in the current lap
    private ushort _nextUsed;         // next slot where a used descriptor will appear
    private ushort _usedBits;         // AVAIL/USED bits of a used descriptor in the current lap
    private ushort _kickedAvail;      // _nextAvail at the last publish (kick decision "old")
    private ushort _pendingSlot;      // first slot of the unpublished batch
    private ushort _pendingFlags;
    private bool _hasPending;
    private bool _eventIdx;
    private int _free;
    private int _inFlight;
    private int _chainsInFlight;      // ids in flight taking more than one slot

    public readonly ushort Size => _size;
    public readonly ushort NextAvail => _nextAvail;
    public readonly bool AvailWrap => _availBits == PackedDesc.FlagAvail;
    public readonly ushort NextUsed => _nextUsed;
    public readonly bool UsedWrap => _usedBits != 0;
    public readonly bool EventIdxEnabled => _eventIdx;

    /// <summary>Ring slots not holding a posted buffer.</summary>
    public readonly int FreeSlots => _free;

    /// <summary>Buffers posted (through the tracked posts) and not yet returned.</summary>
    public readonly int InFlight => _inFlight;

    /// <summary>Set when the device returned an id that is not in flight (a device bug).</summary>
    public bool DeviceFault { readonly get; private set; }

    /// <summary>Zeroes the three parts and starts a fresh ring: positions 0, wrap counters 1.</summary>
    public static PackedDriverRing Create(byte* desc, byte* driverEvent, byte* deviceEvent, ushort size, bool eventIdx)
    {
        if (!PackedLayout.IsValidSize(size))
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "packed ring size must be in 1..32768");
        }
        new Span<byte>(desc, PackedLayout.DescRingBytes(size)).Clear();
        *(uint*)driverEvent = 0;
        *(uint*)deviceEvent = 0;
        var r = default(PackedDriverRing);
        r._desc = (PackedDesc*)desc;
        r._driverEvent = (uint*)driverEvent;
        r._deviceEvent = (uint*)deviceEvent;
        r._idArray = GC.AllocateArray<IdState>(size, pinned: true);
        r._ids = (IdState*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(r._idArray));
        r._size = size;
        r._availBits = PackedDesc.AvailBits(true);
        r._usedBits = PackedDesc.UsedBits(true);
        r._eventIdx = eventIdx;
        r._free = size;
        return r;
    }

    /// <summary>The descriptor in slot <paramref name="i"/> (tests craft rings through it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly ref PackedDesc Desc(int i) => ref _desc[i];

    /// <summary>True if <paramref name="id"/> is posted and not yet returned.</summary>
    public readonly bool IsInFlight(ushort id) => id < _size && _ids[id].Slots != 0;

    /// <summary>
    /// Binds buffer <paramref name="id"/> to one descriptor (<paramref name="addr"/>,
    /// <paramref name="len"/>, WRITE and INDIRECT of <paramref name="flags"/>) that
    /// <see cref="PostBound"/> writes (setup, while the id is not in flight).
    /// </summary>
    public void Bind(ushort id, ulong addr, uint len, ushort flags)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(id, _size);
        IdState* s = _ids + id;
        s->Addr = addr;
        s->Len = len;
        s->Flags = (ushort)(flags & (PackedDesc.FlagWrite | PackedDesc.FlagIndirect));
    }

    /// <summary>Posts buffer <paramref name="id"/> as <see cref="Bind"/> bound it; false if the
    /// ring is full or the id is taken (or out of range).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool PostBound(ushort id)
    {
        if (_free == 0 || id >= _size)
        {
            return false;
        }
        IdState* s = _ids + id;
        if (s->Slots != 0)
        {
            return false;
        }
        s->Slots = 1;
        _inFlight++;
        WriteSlot(s->Addr, s->Len, id, s->Flags);
        return true;
    }

    /// <summary>Posts a buffer of one descriptor; false if the ring is full or the id is taken.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Post(ushort id, ulong addr, uint len, bool deviceWrites)
    {
        if (_free == 0 || !Claim(id, 1))
        {
            return false;
        }
        WriteSlot(addr, len, id, deviceWrites ? PackedDesc.FlagWrite : (ushort)0);
        return true;
    }

    /// <summary>
    /// Posts a buffer of several descriptors over consecutive slots (wrapping at the end of the
    /// ring), NEXT on all but the last. Only Addr, Len and the WRITE flag of each element are
    /// used. False if it does not fit or the id is taken.
    /// </summary>
    public bool PostChain(ushort id, ReadOnlySpan<PackedDesc> elements)
    {
        int n = elements.Length;
        if (n == 0 || n > _free || !Claim(id, (ushort)n))
        {
            return false;
        }
        for (int j = 0; j < n; j++)
        {
            ref readonly PackedDesc e = ref elements[j];
            ushort flags = (ushort)((e.Flags & PackedDesc.FlagWrite) | (j < n - 1 ? PackedDesc.FlagNext : 0));
            WriteSlot(e.Addr, e.Len, id, flags);
        }
        return true;
    }

    /// <summary>
    /// Posts a buffer as one INDIRECT descriptor pointing to <paramref name="entries"/>
    /// descriptors the caller wrote at <paramref name="tableGpa"/> (only WRITE counts in them).
    /// </summary>
    public bool PostIndirect(ushort id, ulong tableGpa, int entries)
    {
        if (_free == 0 || entries <= 0 || !Claim(id, 1))
        {
            return false;
        }
        WriteSlot(tableGpa, (uint)entries * 16, id, PackedDesc.FlagIndirect);
        return true;
    }

    /// <summary>
    /// Writes <paramref name="descs"/> verbatim into consecutive slots (their NEXT, WRITE,
    /// INDIRECT bits, ids and lengths as given) with only the wrap bits added, and tracks no
    /// id: tests craft malformed buffers with it. False if they do not fit.
    /// </summary>
    public bool PostRaw(ReadOnlySpan<PackedDesc> descs)
    {
        if (descs.Length > _free)
        {
            return false;
        }
        for (int j = 0; j < descs.Length; j++)
        {
            ushort flags = (ushort)(descs[j].Flags & ~PackedDesc.WrapMask);
            WriteSlot(descs[j].Addr, descs[j].Len, descs[j].Id, flags);
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Claim(ushort id, ushort slots)
    {
        if (id >= _size || _ids[id].Slots != 0)
        {
            return false;
        }
        _ids[id].Slots = slots;
        _inFlight++;
        if (slots > 1)
        {
            _chainsInFlight++;
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteSlot(ulong addr, uint len, ushort id, ushort flags)
    {
        uint slot = _nextAvail;
        PackedDesc* d = _desc + slot;
        flags |= _availBits;
        if (!_hasPending)
        {
            // The batch's first slot: its flags go last, in Publish. Until then it keeps the
            // flags it has (the device's used ones, or ours of the last lap), which the device
            // does not take as available in this lap.
            _hasPending = true;
            _pendingSlot = (ushort)slot;
            _pendingFlags = flags;
            flags = d->Flags;
        }
        // Plain store: the device reaches this slot only through the batch's first one, whose
        // release store in Publish orders this one before it.
        StoreDesc(d, addr, len, id, flags);
        if (++slot == _size)
        {
            slot = 0;
            _availBits ^= PackedDesc.WrapMask;
        }
        _nextAvail = (ushort)slot;
        _free--;
    }

    /// <summary>
    /// Writes a whole descriptor in one 16-byte store: one store-buffer entry instead of two or
    /// four (each waits for the line, which the device holds, before it drains).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreDesc(PackedDesc* d, ulong addr, uint len, ushort id, ushort flags)
    {
        if (BitConverter.IsLittleEndian && Vector128.IsHardwareAccelerated)
        {
            Vector128.Create(addr, len | (ulong)id << 32 | (ulong)flags << 48).Store((ulong*)d);
        }
        else
        {
            d->Addr = addr;
            PackedDesc.WriteLenIdFlags(d, len, id, flags);
        }
    }

    /// <summary>
    /// Makes the posted batch available (one release store of its first flags) and returns
    /// whether the device asked for a kick: DISABLE no, ENABLE yes, DESC (with EVENT_IDX) iff
    /// the requested slot was among those just made available
    /// (docs/protocol.md#packed-ring-notifications).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Publish()
    {
        if (!_hasPending)
        {
            return false;
        }
        // Release (spec "Updating flags"): every descriptor of the batch before the flags of
        // its first slot, which expose them all.
        Volatile.Write(ref _desc[_pendingSlot].Flags, _pendingFlags);
        _hasPending = false;
        ushort old = _kickedAvail;
        _kickedAvail = _nextAvail;
        // Full fence between exposing the flags and reading the device's suppression (spec
        // "Sending Available Buffer Notifications"): otherwise a needed kick can be missed.
        Interlocked.MemoryBarrier();
        // Acquire: off_wrap and flags in one load.
        uint ev = Volatile.Read(ref *_deviceEvent);
        ushort flags = PackedEventSuppress.FlagsOf(ev);
        if (flags != PackedEventSuppress.FlagsDesc || !_eventIdx)
        {
            return flags != PackedEventSuppress.FlagsDisable;
        }
        return PackedEventSuppress.NeedEvent(ev, _nextAvail, old, AvailWrap, _size);
    }

    /// <summary>Makes the posted batch available without a kick decision (busy-polling device).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PublishNoKick()
    {
        if (_hasPending)
        {
            // Release: as in Publish.
            Volatile.Write(ref _desc[_pendingSlot].Flags, _pendingFlags);
            _hasPending = false;
            _kickedAvail = _nextAvail;
        }
    }

    /// <summary>
    /// Takes the next used descriptor if the device wrote one: its buffer id and the bytes
    /// written (meaningful when the device set WRITE). Skips the slots that buffer took. False
    /// if none is there, or the id is not in flight (then <see cref="DeviceFault"/> is set).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryTakeUsed(out ushort id, out uint len)
    {
        PackedDesc* d = _desc + _nextUsed;
        // Acquire, one aligned 8-byte load of len, id and flags: the device wrote id, len and
        // the buffer's data before the flags, so flags that say used come with their id and len.
        ulong v = ReadLenIdFlags(d);
        if (((ushort)(v >> 48) & PackedDesc.WrapMask) != _usedBits)
        {
            id = 0;
            len = 0;
            return false;
        }
        id = (ushort)(v >> 32);
        len = (uint)v;
        uint slots = id < _size ? _ids[id].Slots : 0u;
        if (slots == 0)
        {
            DeviceFault = true;
            return false;
        }
        _ids[id].Slots = 0;
        _free += (int)slots;
        _inFlight--;
        if (slots > 1)
        {
            _chainsInFlight--;
        }
        uint next = _nextUsed + slots;
        if (next >= _size)
        {
            next -= _size;
            _usedBits ^= PackedDesc.WrapMask;
        }
        _nextUsed = (ushort)next;
        return true;
    }

    /// <summary>
    /// A descriptor's len, id and flags as one value (len | id &lt;&lt; 32 | flags &lt;&lt; 48),
    /// flags read with acquire. Little-endian: one aligned 8-byte load, which cannot see the
    /// flags of a store without the id and len stored before them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ReadLenIdFlags(PackedDesc* d)
    {
        if (BitConverter.IsLittleEndian)
        {
            return Volatile.Read(ref *(ulong*)&d->Len);
        }
        ushort f = Volatile.Read(ref d->Flags);
        return d->Len | (ulong)d->Id << 32 | (ulong)f << 48;
    }

    /// <summary>
    /// Prefetches the lines of the next used descriptors, up to one burst of
    /// <paramref name="slots"/> (four descriptors a line) and no further than the slots in
    /// flight: the loop that takes them reads one descriptor at a time behind a flags check, so
    /// without it the misses come one line after another (DPDK's driver reads them a line at a
    /// time in its vector paths). A hint only: no ordering, nothing read is used.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void PrefetchUsed(int slots = 32)
    {
        if (!Sse.IsSupported)
        {
            return;
        }
        int n = Math.Min(slots, _size - _free);
        uint slot = _nextUsed & ~3u;
        for (int k = 0; k < n; k += 4)
        {
            Sse.Prefetch0(_desc + slot);
            slot += 4;
            if (slot >= _size)
            {
                slot = 0;
            }
        }
    }

    /// <summary>
    /// IN_ORDER with every id equal to its buffer's head slot (the driver posts in ring order,
    /// as DPDK's in-order packed driver does): the device may return a batch as one used
    /// descriptor, in the batch's first slot, holding the id of its last buffer
    /// (docs/protocol.md#descriptor-chains). Takes the next used descriptor and every buffer
    /// from the next used slot up to that id (DPDK's virtio_xmit_cleanup_inorder_packed); skips
    /// their slots, flipping the used wrap counter where the walk crosses the ring's end.
    /// Returns the buffers completed: 0 if the next slot is not used yet. A walk that meets a
    /// slot not in flight, or passes <paramref name="max"/> buffers, stops there with
    /// <paramref name="fault"/> (and <see cref="DeviceFault"/>) set.
    /// </summary>
    public int TakeUsedInOrder(int max, out bool fault)
    {
        fault = false;
        PackedDesc* d = _desc + _nextUsed;
        // Acquire: the device wrote id and len before the flags (the batch's first flags last).
        ulong v = ReadLenIdFlags(d);
        if (((ushort)(v >> 48) & PackedDesc.WrapMask) != _usedBits)
        {
            return 0;
        }
        uint lastId = (ushort)(v >> 32);
        uint size = _size;
        uint cur = _nextUsed;
        if (_chainsInFlight == 0)
        {
            // Every buffer in flight takes one slot and its id is its slot: the run is the
            // slots from the next used one to lastId, all in flight if it is no longer than
            // what is in flight and ends on an id in flight. Nothing else to read.
            uint run = (lastId >= cur ? lastId - cur : lastId + size - cur) + 1;
            if (lastId < size && run <= (uint)_inFlight && run <= (uint)max && _ids[lastId].Slots == 1)
            {
                for (uint k = 0, s = cur; k < run; k++)
                {
                    _ids[s].Slots = 0;
                    if (++s == size)
                    {
                        s = 0;
                    }
                }
                _free += (int)run;
                _inFlight -= (int)run;
                cur += run;
                if (cur >= size)
                {
                    cur -= size;
                    _usedBits ^= PackedDesc.WrapMask;
                }
                _nextUsed = (ushort)cur;
                return (int)run;
            }
        }
        int n = 0;
        while (true)
        {
            uint slots = cur < size ? _ids[cur].Slots : 0u;
            if (slots == 0 || n == max)
            {
                fault = true;
                DeviceFault = true;
                break;
            }
            _ids[cur].Slots = 0;
            _free += (int)slots;
            _inFlight--;
            if (slots > 1)
            {
                _chainsInFlight--;
            }
            n++;
            bool last = cur == lastId;
            cur += slots;
            if (cur >= size)
            {
                cur -= size;
                _usedBits ^= PackedDesc.WrapMask;
            }
            if (last)
            {
                break;
            }
        }
        _nextUsed = (ushort)cur;
        return n;
    }

    /// <summary>True if the next used slot holds a used descriptor (acquire; nothing taken).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool HasUsed() => (Volatile.Read(ref _desc[_nextUsed].Flags) & PackedDesc.WrapMask) == _usedBits;

    /// <summary>
    /// Asks the device to call: with EVENT_IDX when a used descriptor is written at the slot
    /// <paramref name="afterSlots"/> past the next used one (DESC), otherwise at any (ENABLE).
    /// Re-checks after a full fence; returns true if a used descriptor is already there: the
    /// caller must not sleep.
    /// </summary>
    public bool EnableInterrupts(ushort afterSlots = 0)
    {
        uint image = _eventIdx
            ? PackedEventSuppress.DescAhead(_nextUsed, UsedWrap, Math.Min(afterSlots, _size - 1), _size)
            : PackedEventSuppress.Pack(PackedEventSuppress.FlagsEnable);
        // Release, one u32 store: off_wrap never pairs with another moment's flags.
        Volatile.Write(ref *_driverEvent, image);
        // Full fence between re-enabling and re-reading the next used slot (spec "Receiving
        // Used Buffers": otherwise a call can be missed while we go to sleep).
        Interlocked.MemoryBarrier();
        return HasUsed();
    }

    /// <summary>Asks the device not to call (busy polling).</summary>
    public void DisableInterrupts()
    {
        // Release, one u32 store.
        Volatile.Write(ref *_driverEvent, PackedEventSuppress.Pack(PackedEventSuppress.FlagsDisable));
    }

    /// <summary>The device event area as one u32 (tests, diagnostics).</summary>
    public readonly uint ReadDeviceEvent() => Volatile.Read(ref *_deviceEvent);

    /// <summary>The driver event area as one u32 (tests, diagnostics).</summary>
    public readonly uint ReadDriverEvent() => Volatile.Read(ref *_driverEvent);

    /// <summary>One id's state, 16 bytes: the descriptor <see cref="Bind"/> gave it, and the
    /// slots it takes while in flight (0: not in flight).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct IdState
    {
        public ulong Addr;
        public uint Len;
        public ushort Flags;
        public ushort Slots;
    }
}

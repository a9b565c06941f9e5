using System.Runtime.CompilerServices;
using PerfLab.Vhost.Virtq;

namespace PerfLab.VirtioDriver;

/// <summary>
/// Driver (guest) side of a split virtqueue, over memory the driver owns. The load generator
/// and the tests use it as the other party of <see cref="SplitRing"/>. Descriptors are managed
/// by the caller (the load generator keeps one fixed descriptor per buffer, as DPDK's in-order
/// path does); this type owns the avail and used ring indices and the notification rules.
///
/// Memory ordering (docs/protocol.md#split-ring-memory-ordering, driver side): write descriptors
/// and avail entries, release-store avail.idx, full fence, then read used.flags / avail_event to
/// decide on a kick; acquire-load used.idx before reading used entries; when re-enabling interrupts
/// write used_event (or clear NO_INTERRUPT), full fence, re-check used.idx.
/// </summary>
public unsafe struct SplitDriverRing
{
    private VirtqDesc* _desc;
    private ushort* _availFlags;
    private ushort* _availIdx;
    private ushort* _availRing;
    private ushort* _usedEvent;
    private ushort* _usedFlags;
    private ushort* _usedIdx;
    private VirtqUsedElem* _usedRing;
    private ushort* _availEvent;
    private ushort _size;
    private ushort _mask;
    private ushort _nextAvail;      // next avail slot to fill (shadow of avail.idx)
    private ushort _kickedAvail;    // avail.idx at the last kick decision
    private ushort _lastUsed;       // next used element to consume
    private ushort _usedSeen;
    private bool _eventIdx;
    private bool _callsOn;          // the driver's shadow of its own suppression state

    public readonly ushort Size => _size;
    public readonly ushort NextAvail => _nextAvail;
    public readonly ushort LastUsed => _lastUsed;
    public readonly bool EventIdxEnabled => _eventIdx;

    /// <summary>Lays out a zeroed ring over the three parts and starts at index <paramref name="start"/>.</summary>
    public static SplitDriverRing Create(byte* desc, byte* avail, byte* used, ushort size, bool eventIdx, ushort start = 0)
    {
        if (!SplitLayout.IsValidSize(size))
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "split ring size must be a power of two in 1..32768");
        }
        new Span<byte>(desc, SplitLayout.DescTableBytes(size)).Clear();
        new Span<byte>(avail, SplitLayout.AvailBytes(size)).Clear();
        new Span<byte>(used, SplitLayout.UsedBytes(size)).Clear();
        var r = default(SplitDriverRing);
        r._desc = (VirtqDesc*)desc;
        r._availFlags = (ushort*)avail;
        r._availIdx = (ushort*)(avail + 2);
        r._availRing = (ushort*)(avail + 4);
        r._usedEvent = (ushort*)(avail + 4 + 2 * size);
        r._usedFlags = (ushort*)used;
        r._usedIdx = (ushort*)(used + 2);
        r._usedRing = (VirtqUsedElem*)(used + 4);
        r._availEvent = (ushort*)(used + 4 + 8 * size);
        r._size = size;
        r._mask = (ushort)(size - 1);
        r._eventIdx = eventIdx;
        r._callsOn = true; // a zeroed ring asks for calls (flags 0, used_event 0)
        r._nextAvail = start;
        r._kickedAvail = start;
        r._lastUsed = start;
        r._usedSeen = start;
        *r._availIdx = start;
        *r._usedIdx = start;
        return r;
    }

    /// <summary>The descriptor at <paramref name="i"/> (the caller keeps i &lt; Size).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly ref VirtqDesc Desc(int i) => ref _desc[i];

    /// <summary>Writes one head into the avail ring; visible after <see cref="Publish"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Post(ushort head)
    {
        _availRing[_nextAvail & _mask] = head;
        _nextAvail++;
    }

    /// <summary>Heads posted and not yet returned in the used ring.</summary>
    public readonly int InFlight => (ushort)(_nextAvail - _lastUsed);

    /// <summary>
    /// Publishes posted heads with one release store of avail.idx and returns whether the
    /// device asked for a kick (VRING_USED_F_NO_NOTIFY or avail_event,
    /// docs/protocol.md#notification-suppression).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Publish()
    {
        ushort old = _kickedAvail;
        if (old == _nextAvail)
        {
            return false;
        }
        // Release: descriptors and avail entries before avail.idx.
        Volatile.Write(ref *_availIdx, _nextAvail);
        _kickedAvail = _nextAvail;
        // Full fence between the avail.idx store and reading the device's suppression state.
        Interlocked.MemoryBarrier();
        if (_eventIdx)
        {
            return EventIdx.NeedEvent(Volatile.Read(ref *_availEvent), _nextAvail, old);
        }
        return (Volatile.Read(ref *_usedFlags) & SplitLayout.UsedFlagNoNotify) == 0;
    }

    /// <summary>Publishes without deciding on a kick (the caller never kicks: busy-polling device).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PublishNoKick()
    {
        Volatile.Write(ref *_availIdx, _nextAvail);
        _kickedAvail = _nextAvail;
    }

    /// <summary>Used elements the device has returned and we have not consumed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int UsedAvailable()
    {
        if (_usedSeen != _lastUsed)
        {
            return (ushort)(_usedSeen - _lastUsed);
        }
        // Acquire: used elements and the buffers they describe were written before used.idx.
        _usedSeen = Volatile.Read(ref *_usedIdx);
        return (ushort)(_usedSeen - _lastUsed);
    }

    /// <summary>Takes the next used element; call only when <see cref="UsedAvailable"/> &gt; 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public VirtqUsedElem TakeUsed()
    {
        VirtqUsedElem e = _usedRing[_lastUsed & _mask];
        _lastUsed++;
        return e;
    }

    /// <summary>Reads the next used element without consuming it (IN_ORDER reclaim).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly VirtqUsedElem PeekUsed() => _usedRing[_lastUsed & _mask];

    /// <summary>
    /// Consumes <paramref name="count"/> used positions at once. With VIRTIO_F_IN_ORDER the device
    /// may return a batch as one element holding the id of the batch's last buffer, and advance
    /// used.idx by the batch size (docs/protocol.md#descriptor-chains): the driver reads that
    /// element with <see cref="PeekUsed"/>, works out the batch from its own ring order, and skips
    /// it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SkipUsed(int count) => _lastUsed = (ushort)(_lastUsed + count);

    /// <summary>
    /// Asks the device to call after <paramref name="afterCount"/> more used elements (EVENT_IDX;
    /// without it, any used element) and re-checks. Returns true if used elements are already
    /// there: the caller must not sleep.
    /// </summary>
    public bool EnableInterrupts(ushort afterCount = 0)
    {
        _callsOn = true;
        if (_eventIdx)
        {
            Volatile.Write(ref *_usedEvent, (ushort)(_lastUsed + afterCount));
        }
        else
        {
            Volatile.Write(ref *_availFlags, (ushort)0);
        }
        // Full fence between re-enabling and re-reading used.idx
        // (docs/protocol.md#split-ring-memory-ordering).
        Interlocked.MemoryBarrier();
        _usedSeen = Volatile.Read(ref *_usedIdx);
        return _usedSeen != _lastUsed;
    }

    /// <summary>Asks the device not to call (busy polling, or awake after a sleep).</summary>
    public void DisableInterrupts()
    {
        // Already off: no store to a line the device reads on every publish (Linux keeps the
        // same shadow of its flags).
        if (!_callsOn)
        {
            return;
        }
        _callsOn = false;
        if (!_eventIdx)
        {
            Volatile.Write(ref *_availFlags, SplitLayout.AvailFlagNoInterrupt);
            return;
        }
        // used_event just behind what was consumed: the device's last published index is at
        // or past it, so no publish crosses it until the index wraps (Linux's
        // virtqueue_disable_cb writes it away too). Left where the last arming put it, a sleep
        // that its own timeout ended would have the device's next publish call a driver that is
        // already awake.
        Volatile.Write(ref *_usedEvent, (ushort)(_lastUsed - 1));
    }

    /// <summary>The device's current kick-suppression state (tests, diagnostics).</summary>
    public readonly ushort ReadAvailEvent() => Volatile.Read(ref *_availEvent);

    public readonly ushort ReadUsedFlags() => Volatile.Read(ref *_usedFlags);

    public readonly ushort ReadUsedIdx() => Volatile.Read(ref *_usedIdx);
}

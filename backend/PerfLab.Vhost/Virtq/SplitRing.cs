using System.Runtime.CompilerServices;
using PerfLab.Vhost.Memory;

namespace PerfLab.Vhost.Virtq;

/// <summary>
/// Device side of a split virtqueue (docs/protocol.md#split-virtqueue). A mutable struct: keep it
/// in a non-readonly field and pass it by ref, or every call works on a copy.
///
/// Memory ordering, as the spec's steps (docs/protocol.md#split-ring-memory-ordering):
/// <list type="bullet">
/// <item>acquire-load avail.idx before reading ring entries and descriptors;</item>
/// <item>write used elements, then release-store used.idx (one store per batch);</item>
/// <item>full fence between that store and reading avail.flags / used_event;</item>
/// <item>full fence between re-enabling kicks and re-reading avail.idx.</item>
/// </list>
/// Every guest-controlled value is read once into a local and checked before use; a malformed
/// ring sets <see cref="Fault"/> and stays broken until the ring is restarted.
/// </summary>
public unsafe struct SplitRing : IDeviceRing
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
    private ushort _lastAvail;
    private ushort _availSeen;      // last avail.idx read; saves re-reading the shared line
    private ushort _nextUsed;       // next used slot (published + pending)
    private ushort _publishedUsed;  // last value stored to used.idx
    private ushort _deferredFrom;   // first element of the burst PublishDeferred holds back
    private ushort _signalledUsed;  // used index at the last call decision (EVENT_IDX "old")
    private bool _signalledValid;
    private bool _eventIdx;
    private bool _indirect;
    private bool _inOrder;
    private bool _batchOpen;        // IN_ORDER: an unpublished batch element is open at _batchSlot
    private ushort _batchSlot;

    // Dirty log of used-ring writes (SET_VRING_ADDR log flag while LOG_ALL is on); null: off.
    private DirtyLog? _usedLog;
    private ulong _usedLogGpa;

    /// <summary>Why the ring is broken; <see cref="RingFault.None"/> while healthy.</summary>
    public RingFault Fault { readonly get; set; }

    /// <summary>The offending value of <see cref="Fault"/> (see <see cref="RingFaults.Describe"/>).</summary>
    public ulong FaultValue { readonly get; private set; }

    public readonly ushort Size => _size;
    public readonly bool IsBroken => Fault != RingFault.None;
    public readonly bool IsConfigured => _desc != null;
    public readonly ushort LastAvail => _lastAvail;
    public readonly ushort NextUsed => _nextUsed;
    public readonly bool EventIdxEnabled => _eventIdx;
    public readonly bool InOrder => _inOrder;

    /// <summary>
    /// Attaches to a ring whose three parts were already translated and bounds-checked.
    /// <paramref name="lastAvail"/> comes from SET_VRING_BASE; the used index is read from guest
    /// memory (docs/protocol.md#state-pitfalls). If they disagree, both resync to used.idx as DPDK
    /// does: the driver will re-offer what was in flight when the previous back-end stopped. With
    /// <paramref name="inOrder"/> (VIRTIO_F_IN_ORDER negotiated), buffers returned with nothing
    /// written are batched: one used element per batch (docs/protocol.md#descriptor-chains).
    /// </summary>
    public static SplitRing Attach(byte* desc, byte* avail, byte* used, ushort size, ushort lastAvail, bool eventIdx, bool indirect, out bool resynced, bool inOrder = false)
    {
        var r = default(SplitRing);
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
        r._indirect = indirect;
        r._inOrder = inOrder;
        ushort usedIdx = Volatile.Read(ref *r._usedIdx);
        resynced = usedIdx != lastAvail;
        if (resynced)
        {
            lastAvail = usedIdx;
        }
        r._lastAvail = lastAvail;
        r._availSeen = lastAvail;
        r._nextUsed = usedIdx;
        r._publishedUsed = usedIdx;
        r._deferredFrom = usedIdx;
        return r;
    }

    /// <summary>
    /// Points a running ring at new host addresses after the memory table changed (same guest
    /// ring, new mapping); indices and notification state are kept.
    /// </summary>
    public void Retranslate(byte* desc, byte* avail, byte* used)
    {
        ushort size = _size;
        _desc = (VirtqDesc*)desc;
        _availFlags = (ushort*)avail;
        _availIdx = (ushort*)(avail + 2);
        _availRing = (ushort*)(avail + 4);
        _usedEvent = (ushort*)(avail + 4 + 2 * size);
        _usedFlags = (ushort*)used;
        _usedIdx = (ushort*)(used + 2);
        _usedRing = (VirtqUsedElem*)(used + 4);
        _availEvent = (ushort*)(used + 4 + 8 * size);
    }

    /// <summary>
    /// Number of chains the driver has made available, without taking them. Returns -1 and
    /// breaks the ring if avail.idx moved by more than the queue size.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Available()
    {
        if (_availSeen != _lastAvail)
        {
            return (ushort)(_availSeen - _lastAvail);
        }
        return RefreshAvailable();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int RefreshAvailable()
    {
        // Acquire: the entries and descriptors we read next were written before avail.idx
        // (docs/protocol.md#split-ring-memory-ordering).
        ushort a = Volatile.Read(ref *_availIdx);
        ushort n = (ushort)(a - _lastAvail);
        if (n > _size)
        {
            Fault = RingFault.AvailIndexJump;
            FaultValue = a;
            return -1;
        }
        _availSeen = a;
        return n;
    }

    /// <summary>
    /// Takes the next available chain and walks it into <paramref name="chain"/>, checking every
    /// descriptor (docs/protocol.md#untrusted-descriptors). <paramref name="deviceWrites"/> is the
    /// direction the device needs: true for RX (all writable), false for TX (all readable).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PopStatus TryPop(GuestMemory mem, ref DescChain chain, bool deviceWrites)
    {
        if (Fault != RingFault.None)
        {
            return PopStatus.Broken;
        }
        if (_availSeen == _lastAvail)
        {
            int n = RefreshAvailable();
            if (n <= 0)
            {
                return n < 0 ? PopStatus.Broken : PopStatus.Empty;
            }
        }
        ushort head = _availRing[_lastAvail & _mask];
        if (head >= _size)
        {
            Fault = RingFault.HeadOutOfRange;
            FaultValue = head;
            return PopStatus.Broken;
        }
        chain.Reset();
        chain.Id = head;
        chain.SlotCount = 1;
        RingFault f = ChainWalker.Walk(mem, _desc, _size, head, _indirect, deviceWrites, ref chain);
        if (f != RingFault.None)
        {
            Fault = f;
            FaultValue = chain.FaultValue;
            return PopStatus.Broken;
        }
        _lastAvail++;
        return PopStatus.Ok;
    }

    /// <summary>
    /// Burst fast path (see <see cref="IDeviceRing.TakeSingles"/>). Ring state is held in
    /// locals for the loop: the JIT cannot keep struct fields in registers across writes
    /// through guest-memory pointers, and this loop is the per-frame cost.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int TakeSingles(GuestMemory mem, Span<BufRef> dst, bool deviceWrites)
    {
        if (Fault != RingFault.None)
        {
            return 0;
        }
        ushort last = _lastAvail;
        int avail = (ushort)(_availSeen - last);
        if (avail == 0)
        {
            avail = RefreshAvailable();
            if (avail <= 0)
            {
                return 0;
            }
        }
        int n = Math.Min(avail, dst.Length);
        VirtqDesc* table = _desc;
        ushort* ring = _availRing;
        int mask = _mask;
        uint size = _size;
        ushort want = deviceWrites ? VirtqDesc.FlagWrite : (ushort)0;
        int i = 0;
        for (; i < n; i++)
        {
            uint head = ring[(last + i) & mask];
            if (head >= size)
            {
                Fault = RingFault.HeadOutOfRange;
                FaultValue = head;
                break;
            }
            VirtqDesc d = table[head]; // one read of guest-controlled memory
            if ((d.Flags & (VirtqDesc.FlagNext | VirtqDesc.FlagIndirect | VirtqDesc.FlagWrite)) != want || d.Len == 0)
            {
                break; // chain, indirect, wrong direction or empty: the general path decides
            }
            byte* p = mem.TranslateGpa(d.Addr, d.Len);
            if (p == null)
            {
                break; // straddles regions or is outside memory: the general path decides
            }
            ref BufRef b = ref dst[i];
            b.Ptr = p;
            b.Len = d.Len;
            b.Id = (ushort)head;
            b.Slots = 1;
            b.Gpa = d.Addr;
        }
        _lastAvail = (ushort)(last + i);
        return i;
    }

    public void RewindBurst(uint mark, int keep) => _lastAvail = (ushort)(mark + keep);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PushUsedBurst(ReadOnlySpan<BufRef> bufs)
    {
        _batchOpen = false; // elements with lengths: each stands alone, even with IN_ORDER
        VirtqUsedElem* used = _usedRing;
        int mask = _mask;
        ushort next = _nextUsed;
        for (int i = 0; i < bufs.Length; i++)
        {
            VirtqUsedElem* e = used + ((next + i) & mask);
            e->Id = bufs[i].Id;
            e->Len = bufs[i].Len;
        }
        _nextUsed = (ushort)(next + bufs.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PushUsedBurstEmpty(ReadOnlySpan<BufRef> bufs)
    {
        if (_inOrder)
        {
            if (bufs.Length > 0)
            {
                PushInOrderEmpty(bufs[^1].Id, bufs.Length);
            }
            return;
        }
        VirtqUsedElem* used = _usedRing;
        int mask = _mask;
        ushort next = _nextUsed;
        for (int i = 0; i < bufs.Length; i++)
        {
            VirtqUsedElem* e = used + ((next + i) & mask);
            e->Id = bufs[i].Id;
            e->Len = 0;
        }
        _nextUsed = (ushort)(next + bufs.Length);
    }

    /// <summary>Position for <see cref="RewindTo"/>: lets a device give back chains it took but
    /// could not use (back-pressure in the middle of a mergeable frame).</summary>
    public readonly uint MarkPosition() => _lastAvail;

    /// <summary>Gives back every chain taken since <paramref name="mark"/>; nothing was used.</summary>
    public void RewindTo(uint mark) => _lastAvail = (ushort)mark;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PushUsed(ushort id, uint written, ushort slots) => PushUsed(id, written);

    /// <summary>Records a used element; it becomes visible at the next <see cref="Publish"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PushUsed(ushort id, uint len)
    {
        if (_inOrder && len == 0)
        {
            PushInOrderEmpty(id, 1);
            return;
        }
        _batchOpen = false;
        // Written straight into the used ring: the driver reads no element past used.idx, so
        // this needs no shadow copy (DPDK's shadow ring exists for its packed and async paths).
        VirtqUsedElem* e = _usedRing + (_nextUsed & _mask);
        e->Id = id;
        e->Len = len;
        _nextUsed++;
    }

    /// <summary>
    /// IN_ORDER batching (virtio spec, "In-order use of descriptors";
    /// docs/protocol.md#descriptor-chains): the device used every buffer in the order it was made
    /// available, so a batch of buffers with nothing written is returned as ONE used element, at
    /// the batch's first slot, holding the id of the batch's last buffer; used.idx still advances
    /// by the batch size. The batch stays open until the next publish (the driver must not see the
    /// element change after used.idx covers it) or an element with a length. Slots skipped by the
    /// batch are left unwritten.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PushInOrderEmpty(ushort lastId, int count)
    {
        if (!_batchOpen)
        {
            _batchOpen = true;
            _batchSlot = _nextUsed;
            _usedRing[_batchSlot & _mask].Len = 0;
        }
        _usedRing[_batchSlot & _mask].Id = lastId;
        _nextUsed = (ushort)(_nextUsed + count);
    }

    /// <summary>Number of used elements pushed but not yet published.</summary>
    public readonly int PendingUsed => (ushort)(_nextUsed - _publishedUsed);

    /// <summary>
    /// Publishes pending used elements with one release store of used.idx and decides whether
    /// the driver must be called (docs/protocol.md#notification-suppression). With
    /// <paramref name="canCall"/> false (no call fd) the decision, and its full fence, is skipped.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PublishResult Publish(bool canCall)
    {
        _deferredFrom = _nextUsed;
        return PublishTo(_nextUsed, canCall);
    }

    /// <summary>
    /// Publishes every element pushed before the latest burst and holds that burst back until
    /// the next call (or a <see cref="Publish"/>): the driver then always has at least one burst
    /// of buffers in flight. A driver that reclaims only when nearly all its ring is used (DPDK's
    /// virtio PMD: tx_free_thresh) otherwise reclaims the whole ring at once when the back-end
    /// keeps up with it, and frees more mbufs per reclaim than its mempool cache holds
    /// (docs/envelope.md#the-queue-size-cliff). The held burst's IN_ORDER element is closed, so
    /// each publish covers whole elements.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PublishResult PublishDeferred(bool canCall)
    {
        ushort upTo = _deferredFrom;
        _deferredFrom = _nextUsed;
        _batchOpen = false;
        return PublishTo(upTo, canCall);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private PublishResult PublishTo(ushort upTo, bool canCall)
    {
        if (upTo == _publishedUsed)
        {
            return PublishResult.Nothing;
        }
        // Release: the elements (and the data they describe) before the index
        // (docs/protocol.md#split-ring-device-loop, step 5).
        Volatile.Write(ref *_usedIdx, upTo);
        if (_usedLog != null)
        {
            LogUsedElements(_publishedUsed, upTo);
        }
        _publishedUsed = upTo;
        if (upTo == _nextUsed)
        {
            _batchOpen = false;
        }
        if (!canCall)
        {
            // No decision was taken: the next one must not compare against a stale index
            // (after 64 Ki elements without a call fd, "old" would wrap and could suppress a
            // call the driver needs). An invalid "old" means: call.
            _signalledValid = false;
            return PublishResult.Suppressed;
        }
        return NeedsCall(upTo) ? PublishResult.Call : PublishResult.Suppressed;
    }

    /// <summary>
    /// Logs used-ring writes in <paramref name="log"/> from now on (null: stop), at guest address
    /// <paramref name="usedGpa"/> (SET_VRING_ADDR log_guest_addr; docs/protocol.md#dirty-log).
    /// Control plane, while the ring's worker is paused.
    /// </summary>
    public void SetUsedLog(DirtyLog? log, ulong usedGpa)
    {
        _usedLog = log;
        _usedLogGpa = usedGpa;
    }

    public readonly bool LogsUsed => _usedLog != null;

    /// <summary>Marks the used elements in [from, to) (slots, wrapping) and used.idx as dirty.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private readonly void LogUsedElements(ushort from, ushort to)
    {
        DirtyLog log = _usedLog!;
        int count = (ushort)(to - from);
        int first = from & _mask;
        int head = Math.Min(count, _size - first);
        ulong elems = _usedLogGpa + 4;
        log.Mark(elems + 8UL * (uint)first, 8UL * (uint)head);
        if (count > head)
        {
            log.Mark(elems, 8UL * (uint)(count - head));
        }
        log.Mark(_usedLogGpa + 2, 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool NeedsCall(ushort published)
    {
        // Full fence between the used.idx store and reading the driver's suppression
        // (docs/protocol.md#split-ring-device-loop, step 6): Volatile alone lets the load pass the
        // store, and then both sides can miss.
        Interlocked.MemoryBarrier();
        if (_eventIdx)
        {
            ushort ev = Volatile.Read(ref *_usedEvent);
            ushort old = _signalledUsed;
            bool valid = _signalledValid;
            _signalledUsed = published;
            _signalledValid = true;
            return !valid || EventIdx.NeedEvent(ev, published, old);
        }
        return (Volatile.Read(ref *_availFlags) & SplitLayout.AvailFlagNoInterrupt) == 0;
    }

    /// <summary>
    /// Asks the driver to kick on the next buffer and checks whether one arrived meanwhile.
    /// Returns true if work is pending: the caller must not sleep.
    /// </summary>
    public bool EnableKicks() => EnableKicks(1);

    /// <summary>
    /// As <see cref="EnableKicks()"/>, but with EVENT_IDX the driver kicks only when it posts
    /// the <paramref name="ahead"/>-th buffer past the last one taken (avail_event that far
    /// ahead, clamped to the ring); without EVENT_IDX the flag cannot count, so a kick per buffer.
    /// </summary>
    public bool EnableKicks(int ahead)
    {
        if (_eventIdx)
        {
            // The driver kicks when its avail.idx passes avail_event (vring_need_event), so the
            // ahead-th buffer from _lastAvail is the one that kicks. No more than a ring: the
            // driver can never have more posted.
            int n = Math.Clamp(ahead, 1, _size);
            Volatile.Write(ref *_availEvent, (ushort)(_lastAvail + n - 1));
        }
        else
        {
            Volatile.Write(ref *_usedFlags, (ushort)0);
        }
        if (_usedLog != null)
        {
            LogSuppressionWrite();
        }
        // Full fence between re-enabling notifications and re-reading avail.idx
        // (docs/protocol.md#split-ring-memory-ordering).
        Interlocked.MemoryBarrier();
        return Volatile.Read(ref *_availIdx) != _lastAvail;
    }

    /// <summary>Tells the driver not to kick (busy polling). With EVENT_IDX, avail_event is
    /// simply left behind, which suppresses kicks until the index wraps round to it.</summary>
    public void DisableKicks()
    {
        if (!_eventIdx)
        {
            Volatile.Write(ref *_usedFlags, SplitLayout.UsedFlagNoNotify);
            if (_usedLog != null)
            {
                LogSuppressionWrite();
            }
        }
    }

    /// <summary>The device's notification-suppression writes land in the used ring too
    /// (used.flags, or avail_event with EVENT_IDX): logged like the elements.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private readonly void LogSuppressionWrite() =>
        _usedLog!.Mark(_eventIdx ? _usedLogGpa + 4 + 8UL * _size : _usedLogGpa, 2);

    /// <summary>Reads the avail.idx the driver has published (diagnostics).</summary>
    public readonly ushort ReadAvailIdx() => Volatile.Read(ref *_availIdx);

    /// <summary>Reads the used.idx in guest memory (diagnostics).</summary>
    public readonly ushort ReadUsedIdx() => Volatile.Read(ref *_usedIdx);
}

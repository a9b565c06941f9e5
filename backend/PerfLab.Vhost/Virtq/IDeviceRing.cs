using PerfLab.Vhost.Memory;

namespace PerfLab.Vhost.Virtq;

/// <summary>
/// The device side of a virtqueue as devices see it, whatever the layout (split or packed).
/// Implemented by mutable structs and consumed as a generic argument
/// (<c>where TRing : struct, IDeviceRing</c>), so device code is written once and specialised
/// per layout with no interface calls.
/// </summary>
public interface IDeviceRing
{
    /// <summary>Entries in the ring (the queue size).</summary>
    ushort Size { get; }

    /// <summary>Chains available now (a lower bound for packed rings); -1 if the ring just broke.</summary>
    int Available();

    /// <summary>
    /// The burst fast path: takes up to <c>dst.Length</c> available chains that are each a
    /// single descriptor of the needed direction, translated in one piece, into
    /// <paramref name="dst"/>. Stops early (without taking it) at a chain that needs the general
    /// path; the caller then uses <see cref="TryPop"/>, which also reports faults. May set
    /// <see cref="Fault"/> (head out of range, index jump) and return what it took before.
    /// </summary>
    int TakeSingles(GuestMemory mem, Span<BufRef> dst, bool deviceWrites);

    /// <summary>Gives back the burst taken since <paramref name="mark"/> except its first
    /// <paramref name="keep"/> buffers.</summary>
    void RewindBurst(uint mark, int keep);

    /// <summary>Returns every buffer of a burst, each with its own <see cref="BufRef.Len"/> as
    /// the bytes written.</summary>
    void PushUsedBurst(ReadOnlySpan<BufRef> bufs);

    /// <summary>Returns every buffer of a burst with nothing written (TX).</summary>
    void PushUsedBurstEmpty(ReadOnlySpan<BufRef> bufs);

    /// <summary>Takes and walks the next chain; see <see cref="SplitRing.TryPop"/>.</summary>
    PopStatus TryPop(GuestMemory mem, ref DescChain chain, bool deviceWrites);

    /// <summary>A position to rewind to (chains taken since are given back untouched).</summary>
    uint MarkPosition();

    void RewindTo(uint mark);

    /// <summary>Returns buffer <paramref name="id"/> (which took <paramref name="slots"/> ring
    /// slots; split rings ignore it) with <paramref name="written"/> bytes written into it.</summary>
    void PushUsed(ushort id, uint written, ushort slots);

    /// <summary>Publishes pushed elements and decides on a call (see <see cref="PublishResult"/>).</summary>
    PublishResult Publish(bool canCall);

    /// <summary>Publishes what was pushed before the latest burst and holds that burst back
    /// until the next publish (see <see cref="SplitRing.PublishDeferred"/>); a layout that does
    /// not defer publishes everything.</summary>
    PublishResult PublishDeferred(bool canCall);

    /// <summary>Elements pushed and not yet published.</summary>
    int PendingUsed { get; }

    /// <summary>Re-enables kicks, full fence, re-check; true if work is pending.</summary>
    bool EnableKicks();

    /// <summary>As <see cref="EnableKicks()"/>; with EVENT_IDX the driver may post up to
    /// <paramref name="ahead"/> buffers before it kicks (the last of them kicks).</summary>
    bool EnableKicks(int ahead);

    void DisableKicks();

    RingFault Fault { get; set; }
}

/// <summary>What <see cref="IDeviceRing.Publish"/> did.</summary>
public enum PublishResult : byte
{
    /// <summary>Nothing was pending.</summary>
    Nothing = 0,
    /// <summary>Published; the driver suppressed the call (or there is no call fd).</summary>
    Suppressed = 1,
    /// <summary>Published; signal the call fd.</summary>
    Call = 2,
}

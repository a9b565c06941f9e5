using PerfLab.LoadGen.Memory;

namespace PerfLab.LoadGen.Guest.Rings;

/// <summary>
/// The driver side of one virtqueue as the guest's traffic loop sees it, whatever the layout
/// (split or packed): the counterpart of the device side's <c>IDeviceRing</c>. Buffer
/// <c>id</c> is bound once at setup to the same memory for the life of the ring, so posting a
/// buffer is giving its id. Implemented by mutable structs and consumed as a generic argument
/// (<c>where TRing : struct, IGuestRing</c>), so the traffic engine is written once and
/// specialised per layout with no interface calls. Keep implementations in non-readonly fields.
/// </summary>
public interface IGuestRing
{
    ushort Size { get; }

    /// <summary>Guest-physical addresses of the ring's three parts, for SET_VRING_ADDR: the
    /// descriptors, the driver area (split: avail ring; packed: driver event suppression) and
    /// the device area (split: used ring; packed: device event suppression).</summary>
    ulong DescGpa { get; }

    ulong DriverAreaGpa { get; }

    ulong DeviceAreaGpa { get; }

    /// <summary>
    /// Binds buffer <paramref name="id"/> to <paramref name="len"/> bytes at
    /// <paramref name="gpa"/> (setup only). With <paramref name="indirect"/> the buffer is
    /// posted as an indirect table of two descriptors (the virtio-net header, then the rest),
    /// allocated here from <paramref name="ram"/>.
    /// </summary>
    void Bind(GuestRam ram, ushort id, ulong gpa, uint len, uint hdrLen, bool deviceWrites, bool indirect);

    /// <summary>Posts buffer <paramref name="id"/> (bound, not in flight); visible after
    /// <see cref="Publish"/>.</summary>
    void Post(ushort id);

    /// <summary>The ring position the next post takes (IN_ORDER: the buffer id to use).</summary>
    ushort NextPostPosition { get; }

    /// <summary>Makes the posted buffers visible to the device (one release store) and returns
    /// whether the device asked for a kick.</summary>
    bool Publish();

    /// <summary>Makes the posted buffers visible without a kick decision.</summary>
    void PublishNoKick();

    /// <summary>
    /// Looks for buffers the device has returned: how many <see cref="TryTakeUsed"/> may take
    /// now (split: exactly the used entries published, one acquire load of used.idx; packed: 0 when
    /// the next slot is not used, else an upper bound, each used descriptor is checked as it is
    /// taken).
    /// </summary>
    int PollUsed();

    /// <summary>
    /// Takes the next returned buffer among those <see cref="PollUsed"/> counted: its id (as the
    /// device wrote it: check it) and the bytes the device wrote. False when there is none
    /// (packed: the next slot is not used yet, or names an id not in flight).
    /// </summary>
    bool TryTakeUsed(out uint id, out uint len);

    /// <summary>
    /// IN_ORDER: takes the next used element, which completes a batch of
    /// <paramref name="count"/> buffers from ring position <paramref name="first"/> on (the
    /// device may return a batch as one element naming its last buffer). False when the element
    /// is malformed (id out of range, or a batch longer than <paramref name="left"/>, the used
    /// entries still unread): then <paramref name="count"/> is <paramref name="left"/> (split)
    /// or the buffers completed before the fault (packed). Packed: true with a count of 0 when
    /// the next slot is not used yet.
    /// </summary>
    bool TryTakeUsedInOrder(int left, out int first, out int count);

    /// <summary>Asks the device to call on the next used buffer, full fence, re-check: true if
    /// a used buffer is already there (the caller must not sleep).</summary>
    bool EnableInterrupts();

    /// <summary>Asks the device not to call.</summary>
    void DisableInterrupts();

    /// <summary>SET_VRING_BASE for this ring restarted while the guest runs: the first buffer
    /// not yet returned (split: used.idx from memory; packed: our used position and wrap).</summary>
    uint RestartBase();

    /// <summary>Every part of the ring (guest-physical address, length).</summary>
    (ulong Gpa, ulong Len)[] Parts();

    /// <summary>The parts the device writes (split: the used ring; packed: the descriptor
    /// ring, where used descriptors go, and the device event area).</summary>
    (ulong Gpa, ulong Len)[] DeviceWrittenParts();
}

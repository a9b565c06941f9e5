using System.Runtime.CompilerServices;
using PerfLab.LoadGen.Memory;
using PerfLab.Vhost.Virtq;
using PerfLab.VirtioDriver;

namespace PerfLab.LoadGen.Guest.Rings;

/// <summary>
/// A packed ring whose buffer i is fixed at <see cref="Bind"/>: a packed ring writes its
/// descriptors at every post, so the driver ring keeps each id's descriptor (address or
/// indirect table) beside the id's in-flight state, and posting is giving the id.
/// <see cref="Ring"/> is the raw driver ring (tests craft descriptors through it).
/// </summary>
public unsafe struct PackedGuestRing : IGuestRing
{
    /// <summary>The raw driver ring. Mutable struct: never readonly.</summary>
    public PackedDriverRing Ring;
    private ulong _descGpa;
    private ulong _driverEventGpa;
    private ulong _deviceEventGpa;

    /// <summary>Lays out a fresh ring in <paramref name="ram"/>: the descriptor ring, then the
    /// driver and device event areas (which SET_VRING_ADDR carries as avail and used).</summary>
    public static PackedGuestRing Create(GuestRam ram, ushort size, bool eventIdx)
    {
        var r = default(PackedGuestRing);
        r._descGpa = ram.Alloc((ulong)PackedLayout.DescRingBytes(size), 4096);
        r._driverEventGpa = ram.Alloc(4, 64);
        r._deviceEventGpa = ram.Alloc(4, 64);
        r.Ring = PackedDriverRing.Create(ram.Host(r._descGpa), ram.Host(r._driverEventGpa), ram.Host(r._deviceEventGpa), size, eventIdx);
        return r;
    }

    public readonly ushort Size => Ring.Size;

    public readonly ulong DescGpa => _descGpa;

    public readonly ulong DriverAreaGpa => _driverEventGpa;

    public readonly ulong DeviceAreaGpa => _deviceEventGpa;

    /// <summary>Binds buffer <paramref name="id"/> to its address; with indirect, builds its
    /// table of two packed descriptors (header, rest; read in order, no NEXT) and binds the id to
    /// the table. Packed tables hold packed descriptors: flags at offset 14, not 12.</summary>
    public void Bind(GuestRam ram, ushort id, ulong gpa, uint len, uint hdrLen, bool deviceWrites, bool indirect)
    {
        ushort write = deviceWrites ? PackedDesc.FlagWrite : (ushort)0;
        if (!indirect || len <= hdrLen)
        {
            Ring.Bind(id, gpa, len, write);
            return;
        }
        ulong table = ram.Alloc(2 * 16, 16);
        var t = new Span<PackedDesc>(ram.Host(table), 2);
        t[0] = new PackedDesc { Addr = gpa, Len = hdrLen, Id = 0, Flags = write };
        t[1] = new PackedDesc { Addr = gpa + hdrLen, Len = len - hdrLen, Id = 0, Flags = write };
        Ring.Bind(id, table, 2 * 16, PackedDesc.FlagIndirect);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Post(ushort id) => Ring.PostBound(id);

    public readonly ushort NextPostPosition
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Ring.NextAvail;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Publish() => Ring.Publish();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PublishNoKick() => Ring.PublishNoKick();

    /// <summary>0 if the next slot is not used yet (one acquire load), else an upper bound:
    /// each used descriptor is checked as it is taken. Prefetches the next burst's used lines
    /// only then: a device publishes a batch with its first flags, so the lines behind a used
    /// head are written; prefetching at every empty poll would pull lines the device is
    /// writing away from it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int PollUsed()
    {
        if (!Ring.HasUsed())
        {
            return 0;
        }
        Ring.PrefetchUsed();
        return Ring.Size;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryTakeUsed(out uint id, out uint len)
    {
        bool taken = Ring.TryTakeUsed(out ushort i, out len);
        id = i;
        return taken;
    }

    /// <summary>IN_ORDER: TX ids are their head slots (posted in ring order), so one used
    /// descriptor completes every buffer from the next used slot up to the id it holds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryTakeUsedInOrder(int left, out int first, out int count)
    {
        first = Ring.NextUsed;
        count = Ring.TakeUsedInOrder(left, out bool fault);
        return !fault;
    }

    public bool EnableInterrupts() => Ring.EnableInterrupts();

    public void DisableInterrupts() => Ring.DisableInterrupts();

    public readonly uint RestartBase() => new PackedBase(Ring.NextUsed, Ring.UsedWrap, Ring.NextUsed, Ring.UsedWrap).Encode();

    public readonly (ulong Gpa, ulong Len)[] Parts() =>
        [(_descGpa, (ulong)PackedLayout.DescRingBytes(Size)), (_driverEventGpa, 4), (_deviceEventGpa, 4)];

    public readonly (ulong Gpa, ulong Len)[] DeviceWrittenParts() =>
        [(_descGpa, (ulong)PackedLayout.DescRingBytes(Size)), (_deviceEventGpa, 4)];
}

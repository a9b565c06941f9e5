using System.Runtime.CompilerServices;
using PerfLab.LoadGen.Memory;
using PerfLab.Vhost.Virtq;
using PerfLab.VirtioDriver;

namespace PerfLab.LoadGen.Guest.Rings;

/// <summary>
/// A packed ring whose buffer i is fixed at <see cref="Bind"/>: a packed ring writes its
/// descriptors at every post, so this keeps each id's address (or indirect table) to write.
/// <see cref="Ring"/> is the raw driver ring (tests craft descriptors through it).
/// </summary>
public unsafe struct PackedGuestRing : IGuestRing
{
    /// <summary>The raw driver ring. Mutable struct: never readonly.</summary>
    public PackedDriverRing Ring;
    private ulong _descGpa;
    private ulong _driverEventGpa;
    private ulong _deviceEventGpa;
    private ulong[] _gpa;
    private ulong[] _table; // each id's indirect table; 0 without INDIRECT_DESC
    private uint _len;
    private bool _deviceWrites;
    private bool _anyIndirect; // some id has a table: Post looks it up (one array read less per post without)

    /// <summary>Lays out a fresh ring in <paramref name="ram"/>: the descriptor ring, then the
    /// driver and device event areas (which SET_VRING_ADDR carries as avail and used).</summary>
    public static PackedGuestRing Create(GuestRam ram, ushort size, bool eventIdx)
    {
        var r = default(PackedGuestRing);
        r._descGpa = ram.Alloc((ulong)PackedLayout.DescRingBytes(size), 4096);
        r._driverEventGpa = ram.Alloc(4, 64);
        r._deviceEventGpa = ram.Alloc(4, 64);
        r.Ring = PackedDriverRing.Create(ram.Host(r._descGpa), ram.Host(r._driverEventGpa), ram.Host(r._deviceEventGpa), size, eventIdx);
        r._gpa = new ulong[size];
        r._table = new ulong[size];
        return r;
    }

    public readonly ushort Size => Ring.Size;

    public readonly ulong DescGpa => _descGpa;

    public readonly ulong DriverAreaGpa => _driverEventGpa;

    public readonly ulong DeviceAreaGpa => _deviceEventGpa;

    /// <summary>Records buffer <paramref name="id"/>'s address; with indirect, builds its table
    /// of two packed descriptors (header, rest; read in order, no NEXT). Packed tables hold
    /// packed descriptors: flags at offset 14, not 12. Every buffer of a ring has one length.</summary>
    public void Bind(GuestRam ram, ushort id, ulong gpa, uint len, uint hdrLen, bool deviceWrites, bool indirect)
    {
        _gpa[id] = gpa;
        _len = len;
        _deviceWrites = deviceWrites;
        if (!indirect || len <= hdrLen)
        {
            return;
        }
        ushort write = deviceWrites ? PackedDesc.FlagWrite : (ushort)0;
        ulong table = ram.Alloc(2 * 16, 16);
        var t = new Span<PackedDesc>(ram.Host(table), 2);
        t[0] = new PackedDesc { Addr = gpa, Len = hdrLen, Id = 0, Flags = write };
        t[1] = new PackedDesc { Addr = gpa + hdrLen, Len = len - hdrLen, Id = 0, Flags = write };
        _table[id] = table;
        _anyIndirect = true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Post(ushort id)
    {
        if (_anyIndirect && _table[id] != 0)
        {
            Ring.PostIndirect(id, _table[id], 2);
        }
        else
        {
            Ring.Post(id, _gpa[id], _len, _deviceWrites);
        }
    }

    public readonly ushort NextPostPosition
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Ring.NextAvail;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Publish() => Ring.Publish();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PublishNoKick() => Ring.PublishNoKick();

    /// <summary>An upper bound: each used descriptor is checked as it is taken.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int PollUsed() => Ring.Size;

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

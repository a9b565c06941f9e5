using System.Runtime.CompilerServices;
using PerfLab.LoadGen.Memory;
using PerfLab.Vhost.Virtq;
using PerfLab.VirtioDriver;

namespace PerfLab.LoadGen.Guest.Rings;

/// <summary>
/// A split ring with one fixed descriptor per buffer (descriptor i ↔ buffer i, written once at
/// <see cref="Bind"/>, as DPDK's in-order path does): posting is writing the id into the avail
/// ring. <see cref="Ring"/> is the raw driver ring (tests craft descriptors through it).
/// </summary>
public unsafe struct SplitGuestRing : IGuestRing
{
    /// <summary>The raw driver ring. Mutable struct: never readonly.</summary>
    public SplitDriverRing Ring;
    private ulong _descGpa;
    private ulong _availGpa;
    private ulong _usedGpa;

    /// <summary>Lays out a fresh ring in <paramref name="ram"/>: descriptor table, avail ring, used ring.</summary>
    public static SplitGuestRing Create(GuestRam ram, ushort size, bool eventIdx)
    {
        var r = default(SplitGuestRing);
        r._descGpa = ram.Alloc((ulong)SplitLayout.DescTableBytes(size), 4096);
        r._availGpa = ram.Alloc((ulong)SplitLayout.AvailBytes(size), 64);
        r._usedGpa = ram.Alloc((ulong)SplitLayout.UsedBytes(size), 4096);
        r.Ring = SplitDriverRing.Create(ram.Host(r._descGpa), ram.Host(r._availGpa), ram.Host(r._usedGpa), size, eventIdx);
        return r;
    }

    public readonly ushort Size => Ring.Size;

    public readonly ulong DescGpa => _descGpa;

    public readonly ulong DriverAreaGpa => _availGpa;

    public readonly ulong DeviceAreaGpa => _usedGpa;

    /// <summary>Points descriptor <paramref name="id"/> at its buffer: directly, or through an
    /// indirect table of two descriptors (header, rest).</summary>
    public void Bind(GuestRam ram, ushort id, ulong gpa, uint len, uint hdrLen, bool deviceWrites, bool indirect)
    {
        ref VirtqDesc d = ref Ring.Desc(id);
        ushort write = deviceWrites ? VirtqDesc.FlagWrite : (ushort)0;
        if (!indirect || len <= hdrLen)
        {
            d.Addr = gpa;
            d.Len = len;
            d.Flags = write;
            d.Next = 0;
            return;
        }
        ulong table = ram.Alloc(2 * VirtqDesc.Size, VirtqDesc.Size);
        var t = new Span<VirtqDesc>(ram.Host(table), 2);
        t[0] = new VirtqDesc { Addr = gpa, Len = hdrLen, Flags = (ushort)(write | VirtqDesc.FlagNext), Next = 1 };
        t[1] = new VirtqDesc { Addr = gpa + hdrLen, Len = len - hdrLen, Flags = write, Next = 0 };
        d.Addr = table;
        d.Len = 2 * VirtqDesc.Size;
        d.Flags = VirtqDesc.FlagIndirect; // WRITE on the pointer itself is ignored; the table says
        d.Next = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Post(ushort id) => Ring.Post(id);

    public readonly ushort NextPostPosition
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (ushort)(Ring.NextAvail & (Ring.Size - 1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Publish() => Ring.Publish();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PublishNoKick() => Ring.PublishNoKick();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int PollUsed() => Ring.UsedAvailable();

    /// <summary>Takes the next used element; the caller stays within <see cref="PollUsed"/>'s
    /// count (used.idx is not read again here).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryTakeUsed(out uint id, out uint len)
    {
        VirtqUsedElem e = Ring.TakeUsed();
        id = e.Id;
        len = e.Len;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryTakeUsedInOrder(int left, out int first, out int count)
    {
        int mask = Ring.Size - 1;
        VirtqUsedElem e = Ring.PeekUsed();
        first = Ring.LastUsed & mask;
        count = (int)((e.Id - (uint)first) & (uint)mask) + 1;
        bool ok = e.Id < Ring.Size && count <= left;
        if (!ok)
        {
            count = left;
        }
        Ring.SkipUsed(count);
        return ok;
    }

    public bool EnableInterrupts() => Ring.EnableInterrupts();

    public void DisableInterrupts() => Ring.DisableInterrupts();

    public readonly uint RestartBase() => Ring.ReadUsedIdx();

    public readonly (ulong Gpa, ulong Len)[] Parts() =>
    [
        (_descGpa, (ulong)SplitLayout.DescTableBytes(Size)),
        (_availGpa, (ulong)SplitLayout.AvailBytes(Size)),
        (_usedGpa, (ulong)SplitLayout.UsedBytes(Size)),
    ];

    public readonly (ulong Gpa, ulong Len)[] DeviceWrittenParts() => [(_usedGpa, (ulong)SplitLayout.UsedBytes(Size))];
}

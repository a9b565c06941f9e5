using System.Buffers.Binary;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Fuzz;

/// <summary>
/// A driver's view of guest RAM for building seeds: rings laid out as virtio 1.x says, at
/// byte offsets of an image whose offset 0 is guest-physical address <see cref="Gpa"/>.
/// </summary>
public sealed class GuestImage(ulong gpa)
{
    private byte[] _bytes = [];

    public ulong Gpa { get; } = gpa;

    public int Length => _bytes.Length;

    public byte[] ToArray() => (byte[])_bytes.Clone();

    /// <summary>The bytes from <paramref name="offset"/> to the end (what a guest write sends).</summary>
    public ReadOnlySpan<byte> From(int offset) => _bytes.AsSpan(offset);

    public Span<byte> At(int offset, int len)
    {
        if (_bytes.Length < offset + len)
        {
            Array.Resize(ref _bytes, offset + len);
        }
        return _bytes.AsSpan(offset, len);
    }

    public GuestImage U16(int offset, int v)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(At(offset, 2), (ushort)v);
        return this;
    }

    public GuestImage U32(int offset, uint v)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(At(offset, 4), v);
        return this;
    }

    public GuestImage U64(int offset, ulong v)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(At(offset, 8), v);
        return this;
    }

    /// <summary>A 12-byte virtio-net header (zero) and an Ethernet frame of <paramref name="len"/> bytes.</summary>
    public GuestImage Frame(int offset, int len, byte fill)
    {
        Span<byte> f = At(offset, 12 + len);
        f[..12].Clear();
        f[12..].Fill(fill);
        ReadOnlySpan<byte> macs = [0x52, 0x54, 0, 0, 0, 1, 0x52, 0x54, 0, 0, 0, 2, 0x08, 0x00];
        macs[..Math.Min(macs.Length, len)].CopyTo(f[12..]);
        return this;
    }

    // ---- split ring (docs/protocol.md#split-ring-layout) ---------------------------------------

    /// <summary>Descriptor <paramref name="i"/> of the table at <paramref name="table"/>.</summary>
    public GuestImage Desc(int table, int i, ulong addr, uint len, ushort flags, ushort next = 0)
    {
        int o = table + 16 * i;
        U64(o, addr).U32(o + 8, len).U16(o + 12, flags).U16(o + 14, next);
        return this;
    }

    /// <summary>Offers <paramref name="heads"/> in the avail ring at <paramref name="avail"/>
    /// (size <paramref name="size"/>), from avail index <paramref name="start"/>.</summary>
    public GuestImage Avail(int avail, int size, ushort start, params ushort[] heads)
    {
        for (int i = 0; i < heads.Length; i++)
        {
            U16(avail + 4 + 2 * ((start + i) % size), heads[i]);
        }
        return U16(avail + 2, start + heads.Length);
    }

    /// <summary>Sets used.idx (a restarted ring resumes where the used index is).</summary>
    public GuestImage UsedIdx(int used, ushort idx) => U16(used + 2, idx);

    // ---- packed ring (docs/protocol.md#packed-ring-layout) -------------------------------------

    /// <summary>Packed descriptor in slot <paramref name="slot"/>, made available for wrap
    /// counter <paramref name="wrap"/>.</summary>
    public GuestImage Packed(int ring, int slot, ulong addr, uint len, ushort id, ushort flags, bool wrap = true)
    {
        int o = ring + 16 * slot;
        ushort avail = PackedDesc.AvailBits(wrap);
        U64(o, addr).U32(o + 8, len).U16(o + 12, id).U16(o + 14, (ushort)(flags | avail));
        return this;
    }
}

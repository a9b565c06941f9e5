using System.Buffers.Binary;

namespace PerfLab.Fuzz;

/// <summary>
/// A cursor over a fuzz input that never throws: past the end every read yields zero (and
/// <see cref="AtEnd"/> turns true), so any byte string is a valid input for the targets.
/// </summary>
public ref struct FuzzInput
{
    private readonly ReadOnlySpan<byte> _data;
    private int _pos;

    public FuzzInput(ReadOnlySpan<byte> data)
    {
        _data = data;
        _pos = 0;
    }

    public readonly bool AtEnd => _pos >= _data.Length;

    public readonly int Remaining => Math.Max(0, _data.Length - _pos);

    public byte U8() => _pos < _data.Length ? _data[_pos++] : (byte)0;

    public ushort U16() => (ushort)(U8() | U8() << 8);

    public uint U32() => U16() | (uint)U16() << 16;

    /// <summary>Up to <paramref name="n"/> bytes (fewer at the end of the input).</summary>
    public ReadOnlySpan<byte> Bytes(int n)
    {
        int take = Math.Clamp(n, 0, Remaining);
        ReadOnlySpan<byte> s = _data.Slice(_pos, take);
        _pos += take;
        return s;
    }
}

/// <summary>Writes fuzz inputs in the format <see cref="FuzzInput"/> reads (seed builders).</summary>
public sealed class FuzzOutput
{
    private readonly List<byte> _bytes = [];

    public FuzzOutput U8(int v)
    {
        _bytes.Add((byte)v);
        return this;
    }

    public FuzzOutput U16(int v)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v);
        return Raw(b);
    }

    public FuzzOutput U32(uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return Raw(b);
    }

    public FuzzOutput Raw(ReadOnlySpan<byte> bytes)
    {
        foreach (byte x in bytes)
        {
            _bytes.Add(x);
        }
        return this;
    }

    public int Length => _bytes.Count;

    public byte[] ToArray() => [.. _bytes];
}

/// <summary>An invariant the target checks failed: reported to afl-fuzz as a crash.</summary>
public sealed class FuzzInvariantException(string message) : Exception(message);

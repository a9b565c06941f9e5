using System.Runtime.CompilerServices;

namespace PerfLab.Vhost.Virtq;

/// <summary>
/// Byte movement over walked chains: scatter-gather copy between two chains, and small reads
/// and writes at an offset (headers, MAC addresses). Pointers stay in this type; the fast path
/// is one segment on each side, which is what Linux and DPDK drivers post.
/// </summary>
public static unsafe class ChainIo
{
    /// <summary>
    /// Copies up to <paramref name="maxLen"/> bytes from <paramref name="src"/> at
    /// <paramref name="srcOff"/> into <paramref name="dst"/> at <paramref name="dstOff"/>; stops at
    /// the end of either chain. Returns the bytes copied.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Copy(ref DescChain src, uint srcOff, ref DescChain dst, uint dstOff, uint maxLen)
    {
        if (src.Count == 1 && dst.Count == 1)
        {
            ref Segment s = ref src[0];
            ref Segment d = ref dst[0];
            if (srcOff >= s.Len || dstOff >= d.Len)
            {
                return 0;
            }
            uint n = Math.Min(Math.Min(s.Len - srcOff, d.Len - dstOff), maxLen);
            Buffer.MemoryCopy(s.Ptr + srcOff, d.Ptr + dstOff, n, n);
            return n;
        }
        return CopySlow(ref src, srcOff, ref dst, dstOff, maxLen);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static uint CopySlow(ref DescChain src, uint srcOff, ref DescChain dst, uint dstOff, uint maxLen)
    {
        int si = Seek(ref src, ref srcOff);
        int di = Seek(ref dst, ref dstOff);
        uint total = 0;
        while (si < src.Count && di < dst.Count && total < maxLen)
        {
            ref Segment s = ref src[si];
            ref Segment d = ref dst[di];
            uint n = Math.Min(Math.Min(s.Len - srcOff, d.Len - dstOff), maxLen - total);
            Buffer.MemoryCopy(s.Ptr + srcOff, d.Ptr + dstOff, n, n);
            total += n;
            srcOff += n;
            dstOff += n;
            if (srcOff == s.Len)
            {
                si++;
                srcOff = 0;
            }
            if (dstOff == d.Len)
            {
                di++;
                dstOff = 0;
            }
        }
        return total;
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="off"/>; returns bytes written.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Write(ref DescChain dst, uint off, ReadOnlySpan<byte> data)
    {
        if (dst.Count > 0)
        {
            ref Segment d = ref dst[0];
            if (off <= d.Len && (uint)data.Length <= d.Len - off)
            {
                data.CopyTo(new Span<byte>(d.Ptr + off, data.Length));
                return data.Length;
            }
        }
        return WriteSlow(ref dst, off, data);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int WriteSlow(ref DescChain dst, uint off, ReadOnlySpan<byte> data)
    {
        int i = Seek(ref dst, ref off);
        int done = 0;
        while (i < dst.Count && done < data.Length)
        {
            ref Segment d = ref dst[i];
            int n = (int)Math.Min(d.Len - off, (uint)(data.Length - done));
            data.Slice(done, n).CopyTo(new Span<byte>(d.Ptr + off, n));
            done += n;
            i++;
            off = 0;
        }
        return done;
    }

    /// <summary>Reads up to data.Length bytes at <paramref name="off"/>; returns bytes read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Read(ref DescChain src, uint off, Span<byte> data)
    {
        if (src.Count > 0)
        {
            ref Segment s = ref src[0];
            if (off <= s.Len && (uint)data.Length <= s.Len - off)
            {
                new ReadOnlySpan<byte>(s.Ptr + off, data.Length).CopyTo(data);
                return data.Length;
            }
        }
        return ReadSlow(ref src, off, data);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ReadSlow(ref DescChain src, uint off, Span<byte> data)
    {
        int i = Seek(ref src, ref off);
        int done = 0;
        while (i < src.Count && done < data.Length)
        {
            ref Segment s = ref src[i];
            int n = (int)Math.Min(s.Len - off, (uint)(data.Length - done));
            new ReadOnlySpan<byte>(s.Ptr + off, n).CopyTo(data.Slice(done, n));
            done += n;
            i++;
            off = 0;
        }
        return done;
    }

    /// <summary>
    /// Swaps the Ethernet destination and source MACs of the frame starting at
    /// <paramref name="frameOff"/> (no-op if the frame is shorter than 12 bytes).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SwapMacs(ref DescChain dst, uint frameOff)
    {
        if (dst.Count > 0)
        {
            ref Segment d = ref dst[0];
            if (frameOff <= d.Len && d.Len - frameOff >= 12)
            {
                byte* p = d.Ptr + frameOff;
                // 6 + 6 bytes: swap as a u32 + u16 pair each way.
                uint a0 = Unsafe.ReadUnaligned<uint>(p);
                ushort a1 = Unsafe.ReadUnaligned<ushort>(p + 4);
                uint b0 = Unsafe.ReadUnaligned<uint>(p + 6);
                ushort b1 = Unsafe.ReadUnaligned<ushort>(p + 10);
                Unsafe.WriteUnaligned(p, b0);
                Unsafe.WriteUnaligned(p + 4, b1);
                Unsafe.WriteUnaligned(p + 6, a0);
                Unsafe.WriteUnaligned(p + 10, a1);
                return;
            }
        }
        SwapMacsSlow(ref dst, frameOff);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void SwapMacsSlow(ref DescChain dst, uint frameOff)
    {
        Span<byte> macs = stackalloc byte[12];
        if (Read(ref dst, frameOff, macs) != 12)
        {
            return;
        }
        Span<byte> swapped = stackalloc byte[12];
        macs[6..].CopyTo(swapped);
        macs[..6].CopyTo(swapped[6..]);
        Write(ref dst, frameOff, swapped);
    }

    /// <summary>Copies a burst buffer's bytes from <paramref name="off"/> into
    /// <paramref name="dst"/> (as many as both hold); returns the bytes copied. The buffer was
    /// translated and bounds-checked when it was taken.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CopyOut(in BufRef b, uint off, Span<byte> dst)
    {
        if (off >= b.Len)
        {
            return 0;
        }
        int n = (int)Math.Min(b.Len - off, (uint)dst.Length);
        new ReadOnlySpan<byte>(b.Ptr + off, n).CopyTo(dst);
        return n;
    }

    /// <summary>
    /// Prefetches the first cache line of every buffer of a burst (at <paramref name="offset"/>),
    /// as DPDK's vhost does before touching descriptors' data: the misses, which cross cores,
    /// then overlap instead of arriving one frame at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prefetch(ReadOnlySpan<BufRef> bufs, uint offset)
    {
        if (!System.Runtime.Intrinsics.X86.Sse.IsSupported)
        {
            return;
        }
        for (int i = 0; i < bufs.Length; i++)
        {
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(bufs[i].Ptr + offset);
        }
    }

    /// <summary>
    /// Prefetches every line a burst's frames start and end in (from <paramref name="offset"/>
    /// to the buffer's last byte): a 64 B frame after a 12 B header can span two lines, and the
    /// copy then waits for the second one. A longer frame's middle is left to the hardware's
    /// stream prefetcher.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PrefetchFrames(ReadOnlySpan<BufRef> bufs, uint offset)
    {
        if (!System.Runtime.Intrinsics.X86.Sse.IsSupported)
        {
            return;
        }
        for (int i = 0; i < bufs.Length; i++)
        {
            byte* p = bufs[i].Ptr;
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(p + offset);
            // Len >= 1 (an empty buffer is never taken): the last byte is inside the buffer.
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(p + bufs[i].Len - 1);
        }
    }

    /// <summary>As <see cref="CopyOut"/>; a copy of 32 to 64 bytes (a minimum-size frame) is
    /// two overlapping 32-byte loads and stores, inline, instead of a call to memmove.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CopyOutShort(in BufRef b, uint off, Span<byte> dst)
    {
        if (off < b.Len && b.Len - off - 32 <= 32 && dst.Length >= 64 && System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated)
        {
            int n = (int)(b.Len - off);
            byte* s = b.Ptr + off;
            var head = System.Runtime.Intrinsics.Vector256.Load(s);
            var tail = System.Runtime.Intrinsics.Vector256.Load(s + n - 32);
            ref byte d = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(dst);
            System.Runtime.Intrinsics.Vector256.StoreUnsafe(head, ref d);
            System.Runtime.Intrinsics.Vector256.StoreUnsafe(tail, ref d, (nuint)(n - 32));
            return n;
        }
        return CopyOut(in b, off, dst);
    }

    /// <summary>
    /// The loopback's per-frame work on the burst fast path, in one place: copy the frame
    /// (after the <paramref name="hdrLen"/>-byte header) from a TX buffer straight into an RX
    /// buffer, write the RX header with num_buffers 1, swap the MACs. The caller has checked
    /// that the RX buffer holds header + frame. Returns the bytes written into the RX buffer.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint LoopbackFrame(in BufRef tx, in BufRef rx, uint hdrLen, uint frameLen)
    {
        byte* s = tx.Ptr + hdrLen;
        byte* d = rx.Ptr;
        Buffer.MemoryCopy(s, d + hdrLen, frameLen, frameLen);
        Unsafe.WriteUnaligned<ulong>(d, 0);
        Unsafe.WriteUnaligned<ushort>(d + 8, 0);
        if (hdrLen >= 12)
        {
            Unsafe.WriteUnaligned<ushort>(d + 10, 1);
        }
        if (frameLen >= 12)
        {
            byte* f = d + hdrLen;
            // Swap destination and source MACs (6 + 6 bytes) as a u32 + u16 pair each way,
            // reading from the TX copy so the stores do not wait on the loads just written.
            uint a0 = Unsafe.ReadUnaligned<uint>(s);
            ushort a1 = Unsafe.ReadUnaligned<ushort>(s + 4);
            uint b0 = Unsafe.ReadUnaligned<uint>(s + 6);
            ushort b1 = Unsafe.ReadUnaligned<ushort>(s + 10);
            Unsafe.WriteUnaligned(f, b0);
            Unsafe.WriteUnaligned(f + 4, b1);
            Unsafe.WriteUnaligned(f + 6, a0);
            Unsafe.WriteUnaligned(f + 10, a1);
        }
        return hdrLen + frameLen;
    }

    /// <summary>
    /// Writes a receive virtio-net header (all zero: no offloads, no GSO) with
    /// <paramref name="numBuffers"/> for a 12-byte header; a 10-byte legacy header has no
    /// num_buffers field.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteNetHeader(ref DescChain dst, uint hdrLen, ushort numBuffers)
    {
        if (dst.Count > 0 && dst[0].Len >= hdrLen)
        {
            byte* p = dst[0].Ptr;
            Unsafe.WriteUnaligned<ulong>(p, 0);
            Unsafe.WriteUnaligned<ushort>(p + 8, 0);
            if (hdrLen >= 12)
            {
                Unsafe.WriteUnaligned(p + 10, numBuffers);
            }
            return;
        }
        WriteNetHeaderSlow(ref dst, hdrLen, numBuffers);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void WriteNetHeaderSlow(ref DescChain dst, uint hdrLen, ushort numBuffers)
    {
        Span<byte> h = stackalloc byte[12];
        h.Clear();
        if (hdrLen >= 12)
        {
            Unsafe.WriteUnaligned(ref h[10], numBuffers);
        }
        Write(ref dst, 0, h[..(int)Math.Min(hdrLen, 12u)]);
    }

    /// <summary>Marks in the dirty log the guest pages of a burst buffer's written bytes.</summary>
    public static void LogWritten(in BufRef b, uint written, Memory.DirtyLog log) => log.Mark(b.Gpa, written);

    /// <summary>Marks in the dirty log the guest pages of the first <paramref name="written"/>
    /// bytes of <paramref name="chain"/> (migration, LOG_ALL).</summary>
    public static void LogWritten(ref DescChain chain, uint written, Memory.DirtyLog log)
    {
        for (int i = 0; i < chain.Count && written > 0; i++)
        {
            uint n = Math.Min(chain[i].Len, written);
            log.Mark(chain[i].Gpa, n);
            written -= n;
        }
    }

    /// <summary>Moves to the segment holding byte <paramref name="off"/>; off becomes the offset inside it.</summary>
    private static int Seek(ref DescChain c, ref uint off)
    {
        int i = 0;
        while (i < c.Count && off >= c[i].Len)
        {
            off -= c[i].Len;
            i++;
        }
        return i;
    }
}

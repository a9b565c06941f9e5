using System.Runtime.CompilerServices;
using PerfLab.LoadGen.Memory;
using PerfLab.VirtioDriver;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Virtq;

namespace PerfLab.LoadGen.Guest;

/// <summary>
/// The guest driver for one virtio-net queue pair: rx = ring 2i, tx = ring 2i+1. Each ring
/// has one fixed descriptor per buffer (descriptor i ↔ buffer i, written once at setup), so
/// sending a frame is: take a free id, write 24 bytes of probe, post the id. Reclaiming is
/// reading used elements. With <c>indirect</c> (INDIRECT_DESC negotiated) descriptor i points to
/// an indirect table of two descriptors, virtio-net header then frame (or RX data), over the
/// same buffer, so the device walks a table for every buffer. Mutable ring structs live in
/// fields: never readonly.
/// </summary>
public sealed unsafe class PairDriver : IDisposable
{
    public readonly int Index;
    // One layout is live, fixed at setup (RING_PACKED negotiated or not). Mutable ring
    // structs: never readonly.
    public SplitDriverRing Tx;
    public SplitDriverRing Rx;
    public PackedDriverRing TxP;
    public PackedDriverRing RxP;
    public readonly bool Packed;
    public readonly ushort QueueSize;
    public readonly int HdrLen;
    public readonly int FrameSize;
    public readonly uint TxLen;

    public int KickTx = -1, KickRx = -1, CallTx = -1, CallRx = -1, ErrTx = -1, ErrRx = -1;

    // TX buffers: free-id stack and per-id host pointer and send stamp.
    public readonly ushort[] TxFree;
    public int TxFreeCount;
    public readonly nint[] TxHost;
    public readonly long[] TxStamp;
    public readonly nint[] RxHost;
    public readonly uint RxBufSize;
    public readonly bool Indirect;

    /// <summary>Guest-physical address of each RX buffer (dirty-log checks).</summary>
    public readonly ulong[] RxGpa;

    // Ring memory (guest-physical), for SET_VRING_ADDR.
    public ulong TxDescGpa, TxAvailGpa, TxUsedGpa, RxDescGpa, RxAvailGpa, RxUsedGpa;

    /// <summary>Frames sent and received on this pair (received: TX completions with
    /// --tx-only), for the in-flight cap and the per-pair figures.</summary>
    public long Sent;
    public long Received;

    /// <summary>
    /// Most frames in flight on this pair: as many as the posted RX buffers can hold, so that
    /// a back-end that drops when the guest has no RX buffer (DPDK's vhost PMD does) never has
    /// to. Set by the engine.
    /// </summary>
    public long InFlightCap = long.MaxValue;

    // Receive-side state.
    public ulong NextSeq;
    public ulong ExpectSeq;
    public int MergeRemaining;
    /// <summary>Frame bytes received so far of the mergeable frame in progress.</summary>
    public uint MergeBytes;

    /// <summary>Guest-physical address of each TX buffer, and of each buffer's indirect table
    /// (0 without INDIRECT_DESC): a packed ring writes its descriptors at every post.</summary>
    public readonly ulong[] TxGpa;
    public readonly ulong[] TxTable;
    public readonly ulong[] RxTable;

    public PairDriver(int index, GuestRam ram, ushort queueSize, int hdrLen, int frameSize, uint rxBufSize, bool eventIdx, bool indirect = false, bool packed = false)
    {
        Indirect = indirect;
        Packed = packed;
        TxGpa = new ulong[queueSize];
        TxTable = new ulong[queueSize];
        RxTable = new ulong[queueSize];
        Index = index;
        QueueSize = queueSize;
        HdrLen = hdrLen;
        FrameSize = frameSize;
        TxLen = (uint)(hdrLen + frameSize);
        RxBufSize = rxBufSize;
        TxFree = new ushort[queueSize];
        TxHost = new nint[queueSize];
        TxStamp = new long[queueSize];
        RxHost = new nint[queueSize];
        RxGpa = new ulong[queueSize];

        int q = queueSize;
        if (packed)
        {
            // Packed: the descriptor ring, then the driver and device event areas, which
            // SET_VRING_ADDR carries in its avail and used fields.
            TxDescGpa = ram.Alloc((ulong)PackedLayout.DescRingBytes(q), 4096);
            TxAvailGpa = ram.Alloc(4, 64);
            TxUsedGpa = ram.Alloc(4, 64);
            RxDescGpa = ram.Alloc((ulong)PackedLayout.DescRingBytes(q), 4096);
            RxAvailGpa = ram.Alloc(4, 64);
            RxUsedGpa = ram.Alloc(4, 64);
            TxP = PackedDriverRing.Create(ram.Host(TxDescGpa), ram.Host(TxAvailGpa), ram.Host(TxUsedGpa), queueSize, eventIdx);
            RxP = PackedDriverRing.Create(ram.Host(RxDescGpa), ram.Host(RxAvailGpa), ram.Host(RxUsedGpa), queueSize, eventIdx);
        }
        else
        {
            TxDescGpa = ram.Alloc((ulong)SplitLayout.DescTableBytes(q), 4096);
            TxAvailGpa = ram.Alloc((ulong)SplitLayout.AvailBytes(q), 64);
            TxUsedGpa = ram.Alloc((ulong)SplitLayout.UsedBytes(q), 4096);
            RxDescGpa = ram.Alloc((ulong)SplitLayout.DescTableBytes(q), 4096);
            RxAvailGpa = ram.Alloc((ulong)SplitLayout.AvailBytes(q), 64);
            RxUsedGpa = ram.Alloc((ulong)SplitLayout.UsedBytes(q), 4096);
            Tx = SplitDriverRing.Create(ram.Host(TxDescGpa), ram.Host(TxAvailGpa), ram.Host(TxUsedGpa), queueSize, eventIdx);
            Rx = SplitDriverRing.Create(ram.Host(RxDescGpa), ram.Host(RxAvailGpa), ram.Host(RxUsedGpa), queueSize, eventIdx);
        }

        ulong txStride = (TxLen + 63) / 64 * 64;
        Span<byte> template = stackalloc byte[frameSize];
        FrameLayout.WriteTemplate(template, index);
        for (int i = 0; i < q; i++)
        {
            ulong gpa = ram.Alloc(txStride, 64);
            byte* p = ram.Host(gpa);
            new Span<byte>(p, hdrLen).Clear();
            template.CopyTo(new Span<byte>(p + hdrLen, frameSize));
            TxHost[i] = (nint)p;
            TxGpa[i] = gpa;
            if (packed)
            {
                TxTable[i] = IndirectTable(ram, gpa, TxLen, (uint)hdrLen, 0);
            }
            else
            {
                SetBuffer(ram, ref Tx.Desc(i), gpa, TxLen, (uint)hdrLen, 0);
            }
            TxFree[TxFreeCount++] = (ushort)(q - 1 - i);
        }
        // Pad the RX stride off a power of two (as DPDK's 2176-byte mbufs are): 2 KiB strides put
        // every buffer in the same two L1 sets, on both cores.
        ulong rxStride = (rxBufSize + 63) / 64 * 64;
        if ((rxStride & (rxStride - 1)) == 0)
        {
            rxStride += 64;
        }
        for (int i = 0; i < q; i++)
        {
            ulong gpa = ram.Alloc(rxStride, 64);
            RxHost[i] = (nint)ram.Host(gpa);
            RxGpa[i] = gpa;
            if (packed)
            {
                RxTable[i] = IndirectTable(ram, gpa, rxBufSize, (uint)hdrLen, VirtqDesc.FlagWrite);
            }
            else
            {
                SetBuffer(ram, ref Rx.Desc(i), gpa, rxBufSize, (uint)hdrLen, VirtqDesc.FlagWrite);
            }
        }
    }

    /// <summary>With <see cref="Indirect"/>, builds a packed ring buffer's indirect table of
    /// two packed descriptors (header, rest; read in order, no NEXT) and returns its address;
    /// 0 otherwise. Packed tables hold packed descriptors: flags at offset 14, not 12.</summary>
    private ulong IndirectTable(GuestRam ram, ulong gpa, uint len, uint hdrLen, ushort write)
    {
        if (!Indirect || len <= hdrLen)
        {
            return 0;
        }
        ulong table = ram.Alloc(2 * 16, 16);
        var t = new Span<PackedDesc>(ram.Host(table), 2);
        t[0] = new PackedDesc { Addr = gpa, Len = hdrLen, Id = 0, Flags = write };
        t[1] = new PackedDesc { Addr = gpa + hdrLen, Len = len - hdrLen, Id = 0, Flags = write };
        return table;
    }

    /// <summary>Posts TX buffer <paramref name="id"/> on the packed ring (descriptors are
    /// written at every post in a packed ring).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PostTxPacked(ushort id)
    {
        if (TxTable[id] != 0)
        {
            TxP.PostIndirect(id, TxTable[id], 2);
        }
        else
        {
            TxP.Post(id, TxGpa[id], TxLen, deviceWrites: false);
        }
    }

    /// <summary>Posts RX buffer <paramref name="id"/> on the packed ring.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PostRxPacked(ushort id)
    {
        if (RxTable[id] != 0)
        {
            RxP.PostIndirect(id, RxTable[id], 2);
        }
        else
        {
            RxP.Post(id, RxGpa[id], RxBufSize, deviceWrites: true);
        }
    }

    /// <summary>Points ring descriptor <paramref name="d"/> at a buffer: directly, or through an
    /// indirect table of two descriptors (header, rest) when <see cref="Indirect"/>.</summary>
    private void SetBuffer(GuestRam ram, ref VirtqDesc d, ulong gpa, uint len, uint hdrLen, ushort write)
    {
        if (!Indirect || len <= hdrLen)
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
        d.Flags = VirtqDesc.FlagIndirect; // WRITE on the pointer itself is ignored (§7.2); the table says
        d.Next = 0;
    }

    /// <summary>Posts every RX buffer (called once the back-end has the ring).</summary>
    public bool PostAllRx()
    {
        for (int i = 0; i < QueueSize; i++)
        {
            if (Packed)
            {
                PostRxPacked((ushort)i);
            }
            else
            {
                Rx.Post((ushort)i);
            }
        }
        return Packed ? RxP.Publish() : Rx.Publish();
    }

    /// <summary>Every part of both rings (guest-physical address, length).</summary>
    public (ulong Gpa, ulong Len)[] RingParts()
    {
        ulong q = QueueSize;
        return Packed
            ? [(TxDescGpa, 16 * q), (TxAvailGpa, 4), (TxUsedGpa, 4), (RxDescGpa, 16 * q), (RxAvailGpa, 4), (RxUsedGpa, 4)]
            : [(TxDescGpa, (ulong)SplitLayout.DescTableBytes(QueueSize)), (TxAvailGpa, (ulong)SplitLayout.AvailBytes(QueueSize)),
               (TxUsedGpa, (ulong)SplitLayout.UsedBytes(QueueSize)), (RxDescGpa, (ulong)SplitLayout.DescTableBytes(QueueSize)),
               (RxAvailGpa, (ulong)SplitLayout.AvailBytes(QueueSize)), (RxUsedGpa, (ulong)SplitLayout.UsedBytes(QueueSize))];
    }

    /// <summary>The ring parts the device writes (split: the used rings; packed: the
    /// descriptor rings, where used descriptors go, and the device event areas).</summary>
    public (ulong Gpa, ulong Len)[] DeviceWrittenRingParts()
    {
        ulong q = QueueSize;
        return Packed
            ? [(TxDescGpa, 16 * q), (TxUsedGpa, 4), (RxDescGpa, 16 * q), (RxUsedGpa, 4)]
            : [(TxUsedGpa, (ulong)SplitLayout.UsedBytes(QueueSize)), (RxUsedGpa, (ulong)SplitLayout.UsedBytes(QueueSize))];
    }

    /// <summary>SET_VRING_BASE for a ring restarted with the guest running: the next buffer the
    /// device should take is the first one not yet returned (split: used.idx; packed: the used
    /// position and its wrap, as the avail position).</summary>
    public uint RestartBase(bool rx)
    {
        if (!Packed)
        {
            return rx ? Rx.ReadUsedIdx() : Tx.ReadUsedIdx();
        }
        ref PackedDriverRing r = ref rx ? ref RxP : ref TxP;
        return new PackedBase(r.NextUsed, r.UsedWrap, r.NextUsed, r.UsedWrap).Encode();
    }

    /// <summary>Writes the probe of TX buffer <paramref name="id"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void StampTx(ushort id, ulong seq, long stamp)
    {
        byte* f = (byte*)TxHost[id] + HdrLen;
        Unsafe.WriteUnaligned(f + FrameLayout.SeqOffset, seq);
        Unsafe.WriteUnaligned(f + FrameLayout.StampOffset, stamp);
        TxStamp[id] = stamp;
    }

    /// <summary>The received frame in RX buffer <paramref name="id"/> (frame starts after the header).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* RxFrame(uint id) => (byte*)RxHost[id] + HdrLen;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* RxBuffer(uint id) => (byte*)RxHost[id];

    public void Dispose()
    {
        foreach (int fd in new[] { KickTx, KickRx, CallTx, CallRx, ErrTx, ErrRx })
        {
            LibC.CloseQuietly(fd);
        }
        KickTx = KickRx = CallTx = CallRx = ErrTx = ErrRx = -1;
    }
}

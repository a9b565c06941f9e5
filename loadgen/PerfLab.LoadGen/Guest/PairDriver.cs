using System.Runtime.CompilerServices;
using PerfLab.LoadGen.Memory;
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
    public SplitDriverRing Tx;
    public SplitDriverRing Rx;
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

    public PairDriver(int index, GuestRam ram, ushort queueSize, int hdrLen, int frameSize, uint rxBufSize, bool eventIdx, bool indirect = false)
    {
        Indirect = indirect;
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
        TxDescGpa = ram.Alloc((ulong)SplitLayout.DescTableBytes(q), 4096);
        TxAvailGpa = ram.Alloc((ulong)SplitLayout.AvailBytes(q), 64);
        TxUsedGpa = ram.Alloc((ulong)SplitLayout.UsedBytes(q), 4096);
        RxDescGpa = ram.Alloc((ulong)SplitLayout.DescTableBytes(q), 4096);
        RxAvailGpa = ram.Alloc((ulong)SplitLayout.AvailBytes(q), 64);
        RxUsedGpa = ram.Alloc((ulong)SplitLayout.UsedBytes(q), 4096);
        Tx = SplitDriverRing.Create(ram.Host(TxDescGpa), ram.Host(TxAvailGpa), ram.Host(TxUsedGpa), queueSize, eventIdx);
        Rx = SplitDriverRing.Create(ram.Host(RxDescGpa), ram.Host(RxAvailGpa), ram.Host(RxUsedGpa), queueSize, eventIdx);

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
            SetBuffer(ram, ref Tx.Desc(i), gpa, TxLen, (uint)hdrLen, 0);
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
            SetBuffer(ram, ref Rx.Desc(i), gpa, rxBufSize, (uint)hdrLen, VirtqDesc.FlagWrite);
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
            Rx.Post((ushort)i);
        }
        return Rx.Publish();
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

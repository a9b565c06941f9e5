using System.Runtime.CompilerServices;
using PerfLab.LoadGen.Guest.Rings;
using PerfLab.LoadGen.Memory;
using PerfLab.Vhost.Interop;

namespace PerfLab.LoadGen.Guest;

/// <summary>
/// The guest driver for one virtio-net queue pair (rx = ring 2i, tx = ring 2i+1), whatever the
/// ring layout: its buffers, eventfds, sequence numbers and counters. Each ring has one fixed
/// buffer per id, so sending a frame is: take a free id, write 24 bytes of probe, post the id.
/// The rings themselves are in <see cref="PairDriver{TRing}"/>, the layout chosen once, by
/// <see cref="Create"/>.
/// </summary>
public abstract unsafe class PairDriver : IDisposable
{
    public readonly int Index;
    public readonly ushort QueueSize;
    public readonly int HdrLen;
    public readonly int FrameSize;
    public readonly uint TxLen;
    public readonly uint RxBufSize;
    public readonly bool Indirect;

    public int KickTx = -1, KickRx = -1, CallTx = -1, CallRx = -1, ErrTx = -1, ErrRx = -1;

    // TX buffers: free-id stack and per-id host pointer and send stamp.
    public readonly ushort[] TxFree;
    public int TxFreeCount;
    public readonly nint[] TxHost;
    public readonly long[] TxStamp;
    public readonly nint[] RxHost;

    /// <summary>Guest-physical address of each TX and RX buffer.</summary>
    public readonly ulong[] TxGpa;
    public readonly ulong[] RxGpa;

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
    /// <summary>The first sequence number of the current trial (frames below it are stale).</summary>
    public ulong TrialFirstSeq;
    public int MergeRemaining;
    /// <summary>Frame bytes received so far of the mergeable frame in progress.</summary>
    public uint MergeBytes;

    private protected PairDriver(int index, ushort queueSize, int hdrLen, int frameSize, uint rxBufSize, bool indirect)
    {
        Index = index;
        QueueSize = queueSize;
        HdrLen = hdrLen;
        FrameSize = frameSize;
        TxLen = (uint)(hdrLen + frameSize);
        RxBufSize = rxBufSize;
        Indirect = indirect;
        TxFree = new ushort[queueSize];
        TxHost = new nint[queueSize];
        TxStamp = new long[queueSize];
        RxHost = new nint[queueSize];
        TxGpa = new ulong[queueSize];
        RxGpa = new ulong[queueSize];
    }

    /// <summary>
    /// Lays out pair <paramref name="index"/> in <paramref name="ram"/>: its two rings (packed
    /// or split: the one place that decides), then its TX buffers (each holding the frame
    /// template) and its RX buffers.
    /// </summary>
    public static PairDriver Create(bool packed, int index, GuestRam ram, ushort queueSize, int hdrLen, int frameSize, uint rxBufSize, bool eventIdx, bool indirect = false) =>
        packed
            ? new PairDriver<PackedGuestRing>(index, ram, PackedGuestRing.Create(ram, queueSize, eventIdx), PackedGuestRing.Create(ram, queueSize, eventIdx), hdrLen, frameSize, rxBufSize, indirect)
            : new PairDriver<SplitGuestRing>(index, ram, SplitGuestRing.Create(ram, queueSize, eventIdx), SplitGuestRing.Create(ram, queueSize, eventIdx), hdrLen, frameSize, rxBufSize, indirect);

    /// <summary>Posts every RX buffer (called once the back-end has the ring); true: kick.</summary>
    public abstract bool PostAllRx();

    /// <summary>SET_VRING_ADDR's three guest-physical addresses for the RX or TX ring.</summary>
    public abstract (ulong Desc, ulong DriverArea, ulong DeviceArea) RingGpas(bool rx);

    /// <summary>SET_VRING_BASE for the RX or TX ring restarted with the guest running.</summary>
    public abstract uint RestartBase(bool rx);

    /// <summary>Every part of both rings (guest-physical address, length).</summary>
    public abstract (ulong Gpa, ulong Len)[] RingParts();

    /// <summary>The ring parts the device writes.</summary>
    public abstract (ulong Gpa, ulong Len)[] DeviceWrittenRingParts();

    /// <summary>The traffic engine over <paramref name="pairs"/> (this pair among them), for
    /// this pair's ring layout: every pair must have the same one.</summary>
    internal abstract TrafficEngine CreateEngine(IReadOnlyList<PairDriver> pairs, LoadGenOptions o, bool mergeable, bool inOrder);

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

/// <summary>A queue pair over rings of layout <typeparamref name="TRing"/>.</summary>
public sealed unsafe class PairDriver<TRing> : PairDriver where TRing : struct, IGuestRing
{
    // Mutable ring structs: never readonly.
    public TRing Tx;
    public TRing Rx;

    internal PairDriver(int index, GuestRam ram, TRing tx, TRing rx, int hdrLen, int frameSize, uint rxBufSize, bool indirect)
        : base(index, tx.Size, hdrLen, frameSize, rxBufSize, indirect)
    {
        Tx = tx;
        Rx = rx;
        int q = QueueSize;
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
            Tx.Bind(ram, (ushort)i, gpa, TxLen, (uint)hdrLen, deviceWrites: false, indirect);
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
            Rx.Bind(ram, (ushort)i, gpa, rxBufSize, (uint)hdrLen, deviceWrites: true, indirect);
        }
    }

    public override bool PostAllRx()
    {
        for (int i = 0; i < QueueSize; i++)
        {
            Rx.Post((ushort)i);
        }
        return Rx.Publish();
    }

    public override (ulong Desc, ulong DriverArea, ulong DeviceArea) RingGpas(bool rx) =>
        rx ? (Rx.DescGpa, Rx.DriverAreaGpa, Rx.DeviceAreaGpa) : (Tx.DescGpa, Tx.DriverAreaGpa, Tx.DeviceAreaGpa);

    public override uint RestartBase(bool rx) => rx ? Rx.RestartBase() : Tx.RestartBase();

    public override (ulong Gpa, ulong Len)[] RingParts() => [.. Tx.Parts(), .. Rx.Parts()];

    public override (ulong Gpa, ulong Len)[] DeviceWrittenRingParts() => [.. Tx.DeviceWrittenParts(), .. Rx.DeviceWrittenParts()];

    internal override TrafficEngine CreateEngine(IReadOnlyList<PairDriver> pairs, LoadGenOptions o, bool mergeable, bool inOrder)
    {
        var typed = new PairDriver<TRing>[pairs.Count];
        for (int i = 0; i < typed.Length; i++)
        {
            typed[i] = pairs[i] as PairDriver<TRing>
                ?? throw new ArgumentException($"pair {i} has another ring layout than pair {Index}: one traffic engine drives one layout");
        }
        return TrafficEngine.Create(typed, o, mergeable, inOrder);
    }
}

using System.Runtime.CompilerServices;
using PerfLab.Backend.Rings;
using PerfLab.Backend.Stats;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Backend.Devices;

/// <summary>Per-view constants of the data path, derived from the negotiated features.</summary>
/// <param name="TxReturn">When TX buffers go back (<see cref="TxReturnRule"/>); idle rounds and
/// sleeping return anything held.</param>
/// <param name="CopySlots">Copy mode: which of the pair's slots a frame goes into.</param>
public readonly record struct DataPathConfig(
    NetMode Mode, bool Backpressure, int Batch, uint HdrLen, bool Mergeable, DirtyLog? Log, TxReturn TxReturn = TxReturn.Immediate,
    CopySlotUse CopySlots = CopySlotUse.Reuse);

/// <summary>
/// The virtio-net data path, written once and specialised per ring layout through the
/// <typeparamref name="TRing"/> generic argument. Runs on a worker thread (or a test thread);
/// allocates nothing; reports a malformed ring once and then skips it.
/// </summary>
public static class NetDataPath
{
    private enum Delivery : byte
    {
        Delivered,
        NoRxBuffer,
        RxBroken,
        Dropped,
    }

    /// <summary>
    /// Loopback: takes up to Batch frames from TX and copies each once, TX buffer straight into
    /// RX buffer(s), with the MACs swapped; publishes both used rings once per batch and calls
    /// the guest if it asked. With back-pressure, stops when RX has no buffer and leaves the
    /// frame on TX. Returns the TX chains completed.
    /// </summary>
    public static int Loopback<TRing>(QueuePair p, ref TRing tx, ref TRing rx, GuestMemory mem, in DataPathConfig c)
        where TRing : struct, IDeviceRing
    {
        int avail = tx.Available();
        if (avail <= 0)
        {
            NothingAvailable(p, ref tx, avail, in c);
            return 0;
        }
        uint hdr = c.HdrLen;
        int limit = Math.Min(avail, c.Batch);
        long bytes = 0;      // frame bytes delivered to RX
        long txBytes = 0;    // frame bytes taken from TX (delivered or dropped)
        int delivered = 0;
        p.TxBlocked = false;
        QueueCounters txc = p.Tx!.Counters;

        // Fast path: a burst of single-descriptor TX buffers, each copied once into a
        // single-descriptor RX buffer that holds it.
        Span<BufRef> txb = p.TxBurst.AsSpan(0, limit);
        uint txMark = tx.MarkPosition();
        int nt = tx.TakeSingles(mem, txb, deviceWrites: false);
        int n = 0;
        if (nt > 0)
        {
            Span<BufRef> rxb = p.RxBurst.AsSpan(0, nt);
            uint rxMark = rx.MarkPosition();
            int nr = rx.TakeSingles(mem, rxb, deviceWrites: true);
            // Start every frame's cross-core misses (TX frame, RX header) before the first copy,
            // so that they overlap instead of arriving one frame at a time.
            ChainIo.Prefetch(txb[..nr], hdr);
            ChainIo.Prefetch(rxb[..nr], 0);
            DirtyLog? log = c.Log;
            for (; n < nr; n++)
            {
                ref BufRef t = ref txb[n];
                ref BufRef r = ref rxb[n];
                uint frameLen = t.Len - hdr; // wraps when t.Len <= hdr: caught just below
                if (t.Len <= hdr || r.Len < hdr + frameLen)
                {
                    break; // runt TX or RX too small: the general path drops or merges it
                }
                r.Len = ChainIo.LoopbackFrame(in t, in r, hdr, frameLen);
                bytes += frameLen;
                if (log != null)
                {
                    ChainIo.LogWritten(in r, r.Len, log);
                }
            }
            delivered = n;
            txBytes = bytes;
            if (n < nt)
            {
                tx.RewindBurst(txMark, n);
            }
            if (n < nr)
            {
                rx.RewindBurst(rxMark, n);
            }
            tx.PushUsedBurstEmpty(txb[..n]);
            rx.PushUsedBurst(rxb[..n]);
        }

        // General path: chains, indirect tables, mergeable frames, back-pressure and faults.
        while (n < limit)
        {
            if (!c.Mergeable && c.Backpressure && rx.Available() <= 0)
            {
                p.TxBlocked = true;
                txc.RxFull++;
                break;
            }
            uint mark = tx.MarkPosition();
            PopStatus s = tx.TryPop(mem, ref p.TxChain, deviceWrites: false);
            if (s != PopStatus.Ok)
            {
                if (s == PopStatus.Broken)
                {
                    ReportFault(p, p.Tx!);
                }
                break;
            }
            uint frameLen = p.TxChain.TotalLen > hdr ? p.TxChain.TotalLen - hdr : 0;
            if (frameLen == 0)
            {
                // A TX buffer with a header and no frame: complete it, count it, move on.
                txc.Rejected++;
                tx.PushUsed(p.TxChain.Id, 0, p.TxChain.SlotCount);
                n++;
                continue;
            }
            Delivery d = c.Mergeable
                ? DeliverMergeable(p, ref rx, mem, hdr, frameLen, c.Log)
                : DeliverOne(p, ref rx, mem, hdr, frameLen, c.Log);
            if (d == Delivery.NoRxBuffer)
            {
                if (c.Backpressure)
                {
                    tx.RewindTo(mark);
                    p.TxBlocked = true;
                    txc.RxFull++;
                    break;
                }
                txc.Dropped++;
            }
            else if (d == Delivery.RxBroken)
            {
                tx.RewindTo(mark);
                break;
            }
            else if (d == Delivery.Dropped)
            {
                txc.Truncated++;
            }
            else
            {
                bytes += frameLen;
                delivered++;
            }
            txBytes += frameLen;
            tx.PushUsed(p.TxChain.Id, 0, p.TxChain.SlotCount);
            n++;
        }
        if (n > 0)
        {
            CompleteTx(p, ref tx, n, txBytes, in c);
            Complete(ref rx, p.Rx!, delivered, bytes);
        }
        return n;
    }

    /// <summary>Sink: takes up to Batch frames, counts them and returns the buffers. In
    /// <see cref="NetMode.Copy"/> each frame is first copied once into the pair's own slots.</summary>
    public static int Sink<TRing>(QueuePair p, ref TRing tx, GuestMemory mem, in DataPathConfig c)
        where TRing : struct, IDeviceRing
    {
        int avail = tx.Available();
        if (avail <= 0)
        {
            NothingAvailable(p, ref tx, avail, in c);
            return 0;
        }
        int limit = Math.Min(avail, c.Batch);
        uint hdr = c.HdrLen;
        Span<BufRef> txb = p.TxBurst.AsSpan(0, limit);
        int n = tx.TakeSingles(mem, txb, deviceWrites: false);
        long bytes = 0;
        if (c.Mode == NetMode.Copy)
        {
            bytes = CopyBurst(p, txb[..n], hdr, c.CopySlots);
        }
        else
        {
            for (int i = 0; i < n; i++)
            {
                bytes += txb[i].Len > hdr ? txb[i].Len - hdr : 0;
            }
        }
        tx.PushUsedBurstEmpty(txb[..n]);
        while (n < limit)
        {
            PopStatus s = tx.TryPop(mem, ref p.TxChain, deviceWrites: false);
            if (s != PopStatus.Ok)
            {
                if (s == PopStatus.Broken)
                {
                    ReportFault(p, p.Tx!);
                }
                break;
            }
            uint frameLen = p.TxChain.TotalLen > hdr ? p.TxChain.TotalLen - hdr : 0;
            if (c.Mode == NetMode.Copy && frameLen > 0)
            {
                ChainIo.Read(ref p.TxChain, hdr, CopySlot(p, n, c.CopySlots)[..(int)Math.Min(frameLen, (uint)QueuePair.CopySlotSize)]);
            }
            bytes += frameLen;
            tx.PushUsed(p.TxChain.Id, 0, p.TxChain.SlotCount);
            n++;
        }
        if (n > 0)
        {
            CompleteTx(p, ref tx, n, bytes, in c);
        }
        return n;
    }

    /// <summary>Copy mode's fast path: copies each frame of a burst of single-descriptor buffers
    /// into its slot; returns the frame bytes taken.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long CopyBurst(QueuePair p, ReadOnlySpan<BufRef> bufs, uint hdr, CopySlotUse use)
    {
        Span<byte> slots = p.CopySlots;
        long bytes = 0;
        if (use == CopySlotUse.Reuse)
        {
            // Every line each frame spans starts on its way before the first copy; then each frame
            // goes into the slot of its place in the burst, lines that this loop wrote last round.
            ChainIo.PrefetchFrames(bufs, hdr);
            int at = p.CopySlotBase;
            int stride = p.CopySlotStride;
            for (int i = 0; i < bufs.Length; i++)
            {
                bytes += bufs[i].Len > hdr ? bufs[i].Len - hdr : 0;
                ChainIo.CopyOutShort(in bufs[i], hdr, slots.Slice(at, QueuePair.CopySlotSize));
                at += stride;
            }
            return bytes;
        }
        // Rotate: main's copy path before session 6, kept as it was for A/B runs.
        ChainIo.Prefetch(bufs, hdr);
        int slot = p.NextCopySlot;
        for (int i = 0; i < bufs.Length; i++)
        {
            bytes += bufs[i].Len > hdr ? bufs[i].Len - hdr : 0;
            ChainIo.CopyOut(in bufs[i], hdr, slots.Slice(slot * QueuePair.CopySlotSize, QueuePair.CopySlotSize));
            slot = (slot + 1) & (QueuePair.RotatingSlotCount - 1);
        }
        p.NextCopySlot = slot;
        return bytes;
    }

    /// <summary>The slot the <paramref name="n"/>-th frame of a round goes into (the general
    /// path's chains); advances the rotation.</summary>
    private static Span<byte> CopySlot(QueuePair p, int n, CopySlotUse use)
    {
        if (use == CopySlotUse.Reuse)
        {
            return p.CopySlot(n);
        }
        int slot = p.NextCopySlot;
        p.NextCopySlot = (slot + 1) & (QueuePair.RotatingSlotCount - 1);
        return p.CopySlot(slot);
    }

    /// <summary>A round found no TX frame: report a fault, or return the burst held back when
    /// <see cref="TxReturnRule.IdleRound"/> says so.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void NothingAvailable<TRing>(QueuePair p, ref TRing tx, int avail, in DataPathConfig c)
        where TRing : struct, IDeviceRing
    {
        if (avail < 0)
        {
            ReportFault(p, p.Tx!);
        }
        else if (TxReturnRule.IdleRound(ref p.TxHold, c.TxReturn))
        {
            Complete(ref tx, p.Tx!, 0, 0);
        }
    }

    /// <summary>Publishes a TX burst, or holds it back (<see cref="TxReturnRule"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CompleteTx<TRing>(QueuePair p, ref TRing tx, int packets, long bytes, in DataPathConfig c)
        where TRing : struct, IDeviceRing
    {
        Signal(TxReturnRule.Publish(ref tx, ref p.TxHold, c.TxReturn, packets, p.Tx!.CallFd >= 0), p.Tx!, packets, bytes);
    }

    /// <summary>Returns the TX burst held back (before the worker sleeps, or when idle).</summary>
    public static void FlushTx<TRing>(QueuePair p, ref TRing tx)
        where TRing : struct, IDeviceRing
    {
        if (tx.PendingUsed > 0)
        {
            Complete(ref tx, p.Tx!, 0, 0);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Delivery DeliverOne<TRing>(QueuePair p, ref TRing rx, GuestMemory mem, uint hdr, uint frameLen, DirtyLog? log)
        where TRing : struct, IDeviceRing
    {
        uint mark = rx.MarkPosition();
        PopStatus s = rx.TryPop(mem, ref p.RxChain, deviceWrites: true);
        if (s != PopStatus.Ok)
        {
            if (s == PopStatus.Broken)
            {
                ReportFault(p, p.Rx!);
                return Delivery.RxBroken;
            }
            return Delivery.NoRxBuffer;
        }
        if (p.RxChain.TotalLen < hdr + frameLen)
        {
            // Without MRG_RXBUF a frame must fit one buffer: give the buffer back, drop the frame.
            rx.RewindTo(mark);
            return Delivery.Dropped;
        }
        ChainIo.Copy(ref p.TxChain, hdr, ref p.RxChain, hdr, frameLen);
        ChainIo.WriteNetHeader(ref p.RxChain, hdr, 1);
        ChainIo.SwapMacs(ref p.RxChain, hdr);
        uint written = hdr + frameLen;
        if (log != null)
        {
            ChainIo.LogWritten(ref p.RxChain, written, log);
        }
        rx.PushUsed(p.RxChain.Id, written, p.RxChain.SlotCount);
        return Delivery.Delivered;
    }

    /// <summary>
    /// MRG_RXBUF: the frame fills as many RX buffers as it needs; only the first carries the
    /// header, whose num_buffers says how many (docs/protocol.md#the-virtio-net-header). If RX runs
    /// out mid-frame, every buffer taken for this frame is given back.
    /// </summary>
    private static Delivery DeliverMergeable<TRing>(QueuePair p, ref TRing rx, GuestMemory mem, uint hdr, uint frameLen, DirtyLog? log)
        where TRing : struct, IDeviceRing
    {
        uint mark = rx.MarkPosition();
        uint copied = 0;
        int nb = 0;
        while (copied < frameLen)
        {
            if (nb == QueuePair.MaxMergeBuffers)
            {
                rx.RewindTo(mark);
                return Delivery.Dropped;
            }
            bool first = nb == 0;
            PopStatus s = first
                ? rx.TryPop(mem, ref p.RxFirst, deviceWrites: true)
                : rx.TryPop(mem, ref p.RxChain, deviceWrites: true);
            if (s != PopStatus.Ok)
            {
                rx.RewindTo(mark);
                if (s == PopStatus.Broken)
                {
                    ReportFault(p, p.Rx!);
                    return Delivery.RxBroken;
                }
                return Delivery.NoRxBuffer;
            }
            uint dstOff = first ? hdr : 0;
            uint c;
            if (first)
            {
                if (p.RxFirst.TotalLen <= hdr)
                {
                    rx.RewindTo(mark);
                    return Delivery.Dropped;
                }
                c = ChainIo.Copy(ref p.TxChain, hdr, ref p.RxFirst, dstOff, frameLen);
                p.MergeIds[nb] = p.RxFirst.Id;
                p.MergeSlots[nb] = p.RxFirst.SlotCount;
                if (log != null)
                {
                    ChainIo.LogWritten(ref p.RxFirst, dstOff + c, log);
                }
            }
            else
            {
                c = ChainIo.Copy(ref p.TxChain, hdr + copied, ref p.RxChain, 0, frameLen - copied);
                p.MergeIds[nb] = p.RxChain.Id;
                p.MergeSlots[nb] = p.RxChain.SlotCount;
                if (log != null)
                {
                    ChainIo.LogWritten(ref p.RxChain, c, log);
                }
            }
            p.MergeLens[nb] = dstOff + c;
            copied += c;
            nb++;
        }
        ChainIo.WriteNetHeader(ref p.RxFirst, hdr, (ushort)nb);
        ChainIo.SwapMacs(ref p.RxFirst, hdr);
        for (int i = 0; i < nb; i++)
        {
            rx.PushUsed(p.MergeIds[i], p.MergeLens[i], p.MergeSlots[i]);
        }
        return Delivery.Delivered;
    }

    /// <summary>
    /// Injects one RARP frame announcing <paramref name="mac"/> on RX (SEND_RARP,
    /// docs/protocol.md#the-rarp-announcement). Returns false if no RX buffer is
    /// posted yet (retry next round).
    /// </summary>
    public static bool InjectRarp<TRing>(QueuePair p, ref TRing rx, GuestMemory mem, uint hdr, byte[] mac, DirtyLog? log)
        where TRing : struct, IDeviceRing
    {
        Span<byte> frame = stackalloc byte[60];
        RarpFrame.Build(frame, mac);
        uint mark = rx.MarkPosition();
        PopStatus s = rx.TryPop(mem, ref p.RxChain, deviceWrites: true);
        if (s != PopStatus.Ok)
        {
            if (s == PopStatus.Broken)
            {
                ReportFault(p, p.Rx!);
            }
            return false;
        }
        if (p.RxChain.TotalLen < hdr + (uint)frame.Length)
        {
            rx.RewindTo(mark);
            return false;
        }
        ChainIo.WriteNetHeader(ref p.RxChain, hdr, 1);
        ChainIo.Write(ref p.RxChain, hdr, frame);
        uint written = hdr + (uint)frame.Length;
        if (log != null)
        {
            ChainIo.LogWritten(ref p.RxChain, written, log);
        }
        rx.PushUsed(p.RxChain.Id, written, p.RxChain.SlotCount);
        Complete(ref rx, p.Rx!, 0, 0);
        return true;
    }

    /// <summary>Publishes a ring's used elements, calls the guest if it asked, counts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Complete<TRing>(ref TRing ring, Vring v, int packets, long bytes) where TRing : struct, IDeviceRing =>
        Signal(ring.Publish(v.CallFd >= 0), v, packets, bytes);

    /// <summary>Counts the frames completed and calls the guest if the publish asked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Signal(PublishResult r, Vring v, int packets, long bytes)
    {
        QueueCounters qc = v.Counters;
        if (packets > 0)
        {
            qc.RecordBatch(packets, bytes);
        }
        if (r == PublishResult.Call)
        {
            EventFd.Signal(v.CallFd);
            qc.Calls++;
        }
        else if (r == PublishResult.Suppressed)
        {
            qc.CallsSuppressed++;
        }
    }

    /// <summary>A ring broke: take the pair out of service until the front-end resets the ring,
    /// and report it (once).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void ReportFault(QueuePair p, Vring v)
    {
        if (p.Dead)
        {
            return;
        }
        p.Dead = true;
        VringFaultReporter.FoundByDataPath(v, p.Index, p.DeviceFault, p.Logger);
    }
}

using Microsoft.Extensions.Logging;
using PerfLab.Backend.Rings;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Backend.Devices;

/// <summary>
/// A virtio-net queue pair as the data plane sees it: rx = ring 2i, tx = ring 2i+1, plus the
/// scratch chains the worker walks into (native memory, allocated when the pair is activated,
/// so processing allocates nothing). Owned by one worker.
/// </summary>
public sealed class QueuePair : IDisposable
{
    /// <summary>Most RX buffers one mergeable frame may take.</summary>
    public const int MaxMergeBuffers = 64;

    public QueuePair(int index) => Index = index;

    public int Index { get; }
    public Vring? Rx;
    public Vring? Tx;

    /// <summary>The last round stopped with TX frames waiting for RX buffers.</summary>
    public bool TxBlocked;

    /// <summary>When the TX burst held back goes back (<see cref="PerfLab.Vhost.Virtq.TxReturnRule"/>).</summary>
    public PerfLab.Vhost.Virtq.TxReturnState TxHold;

    /// <summary>A fault was reported; the pair is skipped until the next resume.</summary>
    public bool Dead;

    // Mutable scratch structs: never readonly.
    public DescChain TxChain;
    public DescChain RxChain;
    public DescChain RxFirst;
    /// <summary>Burst arrays of the fast path (sized to the device's batch).</summary>
    public BufRef[] TxBurst = [];
    public BufRef[] RxBurst = [];

    public readonly ushort[] MergeIds = new ushort[MaxMergeBuffers];
    public readonly uint[] MergeLens = new uint[MaxMergeBuffers];
    public readonly ushort[] MergeSlots = new ushort[MaxMergeBuffers];

    /// <summary>Copy mode: the back-end's own frame slots (pinned, allocated once), where slot 0
    /// starts (<see cref="CopySlotBase"/>), the distance between slots, and the next slot
    /// (<see cref="CopySlotUse.Rotate"/>).</summary>
    public byte[] CopySlots = [];
    public int CopySlotBase;
    public int CopySlotStride;
    public int NextCopySlot;

    /// <summary>Bytes of a frame a slot holds (a longer frame is cut).</summary>
    public const int CopySlotSize = 2048;

    /// <summary>Slots of <see cref="CopySlotUse.Rotate"/>.</summary>
    public const int RotatingSlotCount = 256;

    /// <summary>Slot <paramref name="i"/> (tests and diagnostics).</summary>
    public Span<byte> CopySlot(int i) => CopySlots.AsSpan(CopySlotBase + i * CopySlotStride, CopySlotSize);

    /// <summary>The owning device's fault flag.</summary>
    public FaultFlag? DeviceFault;

    /// <summary>Where the data path reports this pair's faults (the device's logger).</summary>
    public ILogger Logger = Logging.Log.Default;

    /// <summary>A RARP to inject on RX (SEND_RARP); cleared once sent.</summary>
    public byte[]? PendingRarp;

    /// <summary>(Re)allocates scratch chains able to hold a chain of the ring's size, the burst
    /// arrays for <paramref name="batch"/> buffers and, for copy mode, the copy slots.</summary>
    public void EnsureScratch(int queueSize, int batch, bool copySlots = false, CopySlotUse use = CopySlotUse.Reuse)
    {
        if (copySlots)
        {
            EnsureCopySlots(batch, use);
        }
        if (TxBurst.Length < batch)
        {
            TxBurst = new BufRef[batch];
            RxBurst = new BufRef[batch];
        }
        int capacity = Math.Max(queueSize, 64) + 16; // + splits across region boundaries
        if (TxChain.Capacity >= capacity)
        {
            return;
        }
        FreeScratch();
        TxChain = DescChain.Allocate(capacity);
        RxChain = DescChain.Allocate(capacity);
        RxFirst = DescChain.Allocate(capacity);
    }

    private void EnsureCopySlots(int batch, CopySlotUse use)
    {
        // Reuse: one slot per frame of a round, a cache line apart beyond 2 KiB and starting on
        // a line, so a 64 B frame is one line and consecutive slots use different L1 sets.
        // Rotate: as before session 6 (the array's own alignment, 2 KiB apart).
        int stride = use == CopySlotUse.Reuse ? CopySlotSize + 64 : CopySlotSize;
        int count = use == CopySlotUse.Reuse ? batch : RotatingSlotCount;
        int bytes = count * stride + (use == CopySlotUse.Reuse ? 64 : 0);
        if (CopySlots.Length < bytes || CopySlotStride != stride)
        {
            CopySlots = GC.AllocateArray<byte>(bytes, pinned: true);
        }
        CopySlotStride = stride;
        NextCopySlot = 0;
        if (use == CopySlotUse.Reuse)
        {
            // The array is pinned: its address does not move. No raw pointer here (the memory
            // door rule: only Memory/, Virtq/ and Interop/ hold them).
            long at = System.Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(CopySlots, 0);
            CopySlotBase = (int)((64 - (at & 63)) & 63);
        }
        else
        {
            CopySlotBase = 0;
        }
    }

    private void FreeScratch()
    {
        TxChain.Free();
        RxChain.Free();
        RxFirst.Free();
    }

    public void Dispose() => FreeScratch();
}

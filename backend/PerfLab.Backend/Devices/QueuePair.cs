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

    /// <summary>Rounds in a row that found no TX frame (deferred TX return only).</summary>
    public int IdleRounds;

    /// <summary>Idle rounds after which a TX burst held back by a deferred return is returned
    /// anyway (tens of microseconds of busy polling: far longer than a driver's gap between
    /// bursts, far shorter than anything a driver waits on).</summary>
    public const int DeferredFlushRounds = 1024;

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

    /// <summary>Copy mode: the back-end's own frame slots (pinned, allocated once) and the next one.</summary>
    public byte[] CopySlots = [];
    public int NextCopySlot;

    /// <summary>Slots of the copy ring, and the size of each (a frame longer than a slot is cut).</summary>
    public const int CopySlotCount = 256;
    public const int CopySlotSize = 2048;

    /// <summary>The owning device's fault flag.</summary>
    public FaultFlag? DeviceFault;

    /// <summary>Where the data path reports this pair's faults (the device's logger).</summary>
    public ILogger Logger = Logging.Log.Default;

    /// <summary>A RARP to inject on RX (SEND_RARP); cleared once sent.</summary>
    public byte[]? PendingRarp;

    /// <summary>(Re)allocates scratch chains able to hold a chain of the ring's size, and the
    /// burst arrays for <paramref name="batch"/> buffers.</summary>
    public void EnsureScratch(int queueSize, int batch, bool copySlots = false)
    {
        if (copySlots && CopySlots.Length == 0)
        {
            CopySlots = GC.AllocateArray<byte>(CopySlotCount * CopySlotSize, pinned: true);
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

    private void FreeScratch()
    {
        TxChain.Free();
        RxChain.Free();
        RxFirst.Free();
    }

    public void Dispose() => FreeScratch();
}

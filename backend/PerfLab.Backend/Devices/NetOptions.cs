using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Backend.Devices;

/// <summary>What the virtio-net device does with the frames the guest transmits.</summary>
public enum NetMode
{
    /// <summary>Each TX frame comes back on the same pair's RX queue with its MACs swapped.</summary>
    Loopback,
    /// <summary>Count and drop.</summary>
    Sink,
    /// <summary>
    /// Copy each TX frame once into a buffer the back-end owns (a ring of 2 KiB slots, as a
    /// back-end handing frames to a NIC or a tap would), then drop it: one ring, one copy. The
    /// like-for-like of a C virtqueue loopback (scripts/compare-limits) and of DPDK's vhost
    /// dequeue into mbufs.
    /// </summary>
    Copy,
}

/// <summary>Which of its own slots the copy mode copies a frame into (docs/envelope.md,
/// "txcopy at queue 256, session 6").</summary>
public enum CopySlotUse
{
    /// <summary>The i-th frame of a round goes into slot i, so every round writes the same few
    /// slots: the frame is dropped before the next round, as a run-to-completion application
    /// gives its mbufs back to its per-core cache (DPDK's rxonly), and those slots stay in the
    /// back-end's L1. Slots are 2 KiB plus one cache line apart, so that the first lines of
    /// consecutive slots fall in different L1 sets.</summary>
    Reuse,
    /// <summary>256 slots of 2 KiB in turn, one per frame (before session 6): every frame writes
    /// a line last written 256 frames ago, and the 2 KiB stride puts all those lines in two L1
    /// sets, so each frame's store misses L1.</summary>
    Rotate,
}

/// <summary>Device and data-plane settings (the daemon's CLI fills this).</summary>
public sealed record NetDeviceOptions
{
    public NetMode Mode { get; init; } = NetMode.Loopback;

    /// <summary>Loopback with no RX buffer posted: wait for one (true) or drop and count (false).</summary>
    public bool Backpressure { get; init; } = true;

    /// <summary>When TX buffers go back to the guest (<see cref="TxReturnRule"/>; docs/envelope.md).</summary>
    public TxReturn TxReturn { get; init; } = TxReturn.Auto;

    /// <summary>Copy mode: which slot each frame is copied into.</summary>
    public CopySlotUse CopySlots { get; init; } = CopySlotUse.Reuse;

    /// <summary>Most chains taken from a TX queue per round (DPDK's burst, vhost-net's batch).</summary>
    public int Batch { get; init; } = 64;

    /// <summary>Queue pairs offered (GET_QUEUE_NUM); MQ is offered when more than one.</summary>
    public int MaxQueuePairs { get; init; } = 8;

    /// <summary>Queue pairs served by one worker thread (1: one worker per pair).</summary>
    public int PairsPerWorker { get; init; } = 1;

    /// <summary>CPU to pin worker i to: Cpus[i % Cpus.Length]; null: no pinning.</summary>
    public int[]? Cpus { get; init; }

    public PollOptions Poll { get; init; } = new();

    /// <summary>Virtio feature bits to withhold from the offer (tests, experiments).</summary>
    public ulong DisabledFeatures { get; init; }

    /// <summary>Protocol feature bits to withhold from the offer.</summary>
    public ulong DisabledProtocolFeatures { get; init; }

    /// <summary>Every virtio feature the device implements (docs/features.md names the test
    /// behind each). LOG_ALL is offered only with LOG_SHMFD.</summary>
    public const ulong SupportedFeatures =
        VirtioFeatures.Version1 | VirtioFeatures.ProtocolFeatures | VirtioFeatures.RingEventIdx
        | VirtioFeatures.RingIndirectDesc | VirtioFeatures.NetMrgRxbuf | VirtioFeatures.NetMq
        | VirtioFeatures.RingPacked | VirtioFeatures.InOrder | VirtioFeatures.NetMtu | VirtioFeatures.LogAll;

    /// <summary>Every protocol feature the handler implements.</summary>
    public const ulong SupportedProtocolFeatures =
        ProtocolFeatures.Mq | ProtocolFeatures.ReplyAck | ProtocolFeatures.BackendReq | ProtocolFeatures.Status
        | ProtocolFeatures.LogShmfd | ProtocolFeatures.Rarp | ProtocolFeatures.NetMtu
        | ProtocolFeatures.ResetDevice | ProtocolFeatures.ConfigureMemSlots;
}

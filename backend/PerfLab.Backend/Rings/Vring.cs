using PerfLab.Backend.Stats;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Backend.Rings;

/// <summary>
/// One virtqueue: the configuration the control plane collects from SET_VRING_* messages,
/// and the data-plane ring it becomes when started. The control plane changes a Vring only
/// while the device's workers are paused; workers read it only between a resume and the next
/// pause. Ring lifecycle (docs/protocol.md#ring-lifecycle): started/stopped (SET_VRING_KICK /
/// GET_VRING_BASE) and enabled/disabled (SET_VRING_ENABLE) are independent.
/// </summary>
public sealed class Vring
{
    public Vring(int index) => Index = index;

    public int Index { get; }

    // ---- control-plane configuration -------------------------------------------------------
    public uint Num;
    public VringAddr Addr;
    public bool AddrSet;
    /// <summary>SET_VRING_BASE value (split: low 16 bits; packed: the wrap-encoded form).</summary>
    public uint Base;
    public int KickFd = -1;
    public bool KickReceived;
    public int CallFd = -1;
    public int ErrFd = -1;
    public bool Enabled;

    /// <summary>Started: SET_VRING_KICK seen and the ring translated and attached.</summary>
    public bool Started;

    /// <summary>At its last start the ring's SET_VRING_BASE disagreed with used.idx in guest
    /// memory and the ring resynced to used.idx (the previous back-end left chains taken but
    /// not completed); false when it resumed exactly at the base the front-end sent.</summary>
    public bool ResyncedAtStart;

    /// <summary>Used-ring writes are logged (SET_VRING_ADDR flag bit 0, migration).</summary>
    public bool LogUsed => (Addr.Flags & VringAddr.FlagLog) != 0;

    // ---- data plane -------------------------------------------------------------------------
    // Mutable ring structs: never readonly, always accessed by ref. Which one is live is the
    // ring's layout, fixed when the ring starts.
    public SplitRing Split;
    public PackedRing Packed;

    /// <summary>The layout the ring started with (null while stopped).</summary>
    public VringLayout? Layout;

    /// <summary>The ring was started as a packed ring (VIRTIO_F_RING_PACKED).</summary>
    public bool IsPacked => Layout == VringLayout.Packed;

    /// <summary>Packed rings: guest-physical addresses of the descriptor ring and the device
    /// event area, where the device writes (for the dirty log).</summary>
    public ulong PackedDescGpa;
    public ulong PackedDeviceEventGpa;

    public readonly QueueCounters Counters = new();

    /// <summary>Guest-physical address of the used ring for the dirty log.</summary>
    public ulong UsedLogGpa;

    /// <summary>Set by the worker when it found the ring malformed.</summary>
    public RingFault Fault => Layout?.Fault(this) ?? RingFault.None;

    /// <summary>The offending value of <see cref="Fault"/> (an address, a length, an index).</summary>
    public ulong FaultValue => Layout?.FaultValue(this) ?? 0;

    public bool IsBroken => Started && Fault != RingFault.None;

    /// <summary>Ready for the data plane: started, enabled and not broken.</summary>
    public bool IsActive => Started && Enabled && !IsBroken;

    /// <summary>The avail index to hand back in GET_VRING_BASE (packed: wrap-encoded).</summary>
    public uint NextAvailForBase => Started && Layout != null ? Layout.NextAvailForBase(this) : Base;

    /// <summary>Forgets the configuration and closes the ring's fds; counters stay.</summary>
    public void ResetConfig()
    {
        LibC.CloseQuietly(KickFd);
        LibC.CloseQuietly(CallFd);
        LibC.CloseQuietly(ErrFd);
        KickFd = CallFd = ErrFd = -1;
        Num = 0;
        Addr = default;
        AddrSet = false;
        Base = 0;
        KickReceived = false;
        Enabled = false;
        Started = false;
        ResyncedAtStart = false;
        Split = default;
        Packed = default;
        Layout = null;
        PackedDescGpa = 0;
        PackedDeviceEventGpa = 0;
        UsedLogGpa = 0;
    }

    public override string ToString() =>
        $"vring {Index}: num={Num} started={Started} enabled={Enabled} kick={KickFd} call={CallFd}{(IsBroken ? $" BROKEN({Fault})" : "")}";
}

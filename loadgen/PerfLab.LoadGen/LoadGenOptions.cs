using PerfLab.Vhost.Polling;

namespace PerfLab.LoadGen;

/// <summary>The order of the front-end handshake to replay.</summary>
public enum HandshakeOrder
{
    /// <summary>QEMU 7.2's order (docs/protocol.md#what-qemu-72-sends): enables before features and
    /// ring setup.</summary>
    Qemu,
    /// <summary>DPDK 22.11 virtio-user's order: calls before features, enables after rings.</summary>
    Dpdk,
}

/// <summary>When to give the back-end call eventfds (SET_VRING_CALL with an fd, or NOFD).</summary>
public enum CallFdPolicy
{
    /// <summary>Only when the guest's own strategy sleeps on calls (interrupt, hybrid).</summary>
    Auto,
    Always,
    Never,
}

/// <summary>Everything the load generator can be told (the CLI and the bench fill this).</summary>
public sealed record LoadGenOptions
{
    public string SocketPath { get; init; } = "/tmp/perflab-vhost.sock";

    /// <summary>Listen on the socket and wait for the back-end to connect (back-end client mode).</summary>
    public bool Listen { get; init; }

    public double ConnectTimeoutS { get; init; } = 10;
    public double DurationS { get; init; } = 5;
    public double WarmupS { get; init; } = 1;
    public double DrainTimeoutS { get; init; } = 2;

    /// <summary>Ethernet frame size in bytes, without the virtio-net header.</summary>
    public int FrameSize { get; init; } = 64;
    public int QueueSize { get; init; } = 256;

    /// <summary>Frames posted per publish (and so at most one kick per burst).</summary>
    public int Burst { get; init; } = 32;

    public int Queues { get; init; } = 1;

    /// <summary>Most frames in flight (sent, not yet back), all pairs together; 0: no cap
    /// beyond the rings. 1 makes a ping-pong: the round-trip latency floor.</summary>
    public int MaxInFlight { get; init; }

    /// <summary>Offered load in frames per second (all pairs together); 0: as fast as possible.</summary>
    public double RatePps { get; init; }

    public PollOptions Poll { get; init; } = new();

    /// <summary>
    /// Open loop without back-pressure, for loss measurements (NDR/PDR): a frame that finds no
    /// room on TX at its scheduled time is counted dropped, never sent late; no per-pair
    /// in-flight cap, so a back-end in --drop-when-full mode drops what the guest's RX buffers
    /// cannot take; sequence gaps count as loss, not errors. See <c>Trials.TrialRunner</c>.
    /// </summary>
    public bool Lossy { get; init; }

    public bool EventIdx { get; init; } = true;
    public bool Mergeable { get; init; }
    public bool Indirect { get; init; }

    /// <summary>Negotiate VIRTIO_F_IN_ORDER: TX buffers go out in ring order and come back in
    /// batches (one used element per batch).</summary>
    public bool InOrder { get; init; }

    /// <summary>Negotiate VIRTIO_F_RING_PACKED: packed rings on both sides.</summary>
    public bool Packed { get; init; }

    /// <summary>Send the memory table as ADD_MEM_REG messages (CONFIGURE_MEM_SLOTS) even when it
    /// would fit SET_MEM_TABLE; always so with more than 8 regions.</summary>
    public bool MemSlots { get; init; }

    /// <summary>NET_SET_MTU value to send at DRIVER_OK (0: none); negotiates NET_MTU.</summary>
    public int Mtu { get; init; }

    /// <summary>Ask the back-end to announce the guest's MAC (SEND_RARP) after setup; the RARP
    /// frame is counted on RX.</summary>
    public bool SendRarp { get; init; }

    /// <summary>Start dirty logging after setup (LOG_ALL, SET_LOG_BASE, log flag on every ring),
    /// as QEMU does for migration, and check after the run that the log marks exactly the pages
    /// the back-end wrote.</summary>
    public bool DirtyLog { get; init; }

    /// <summary>During the measured window, change the memory table every this many ms (0:
    /// never): SET_MEM_TABLE alternating between two layouts of the same memory, or with
    /// CONFIGURE_MEM_SLOTS, ADD/REM_MEM_REG of an extra region.</summary>
    public double RemapIntervalMs { get; init; }

    /// <summary>Before the measured window, close the connection and reconnect this many times,
    /// keeping the guest running, and time each from reopening to the first frame back.</summary>
    public int Reconnects { get; init; }

    /// <summary>Before the measured window, reset the device (RESET_DEVICE) and start it again
    /// on the same connection; the rings resume at used.idx.</summary>
    public bool ResetDevice { get; init; }

    /// <summary>RX buffer size (0: header + frame, at least 2048).</summary>
    public int RxBufSize { get; init; }

    public HandshakeOrder Order { get; init; } = HandshakeOrder.Qemu;
    public CallFdPolicy CallFds { get; init; } = CallFdPolicy.Auto;

    /// <summary>Guest RAM size in MiB (0: just enough).</summary>
    public int MemoryMb { get; init; }

    /// <summary>Guest RAM in this many memfd regions.</summary>
    public int Regions { get; init; } = 1;

    /// <summary>Guest-physical addresses equal our virtual addresses (as DPDK virtio-user).</summary>
    public bool IdentityGpa { get; init; }

    /// <summary>Check every received frame's pattern byte by byte (slow; tests).</summary>
    public bool Verify { get; init; }

    /// <summary>Send only; count TX completions (for a back-end in sink mode).</summary>
    public bool TxOnly { get; init; }

    /// <summary>The back-end's stats socket, for its counters and CPU time over the window.</summary>
    public string? BackendStatsSocket { get; init; }

    /// <summary>The back-end's pid, for its CPU time from /proc when it has no stats socket (DPDK).</summary>
    public int BackendPid { get; init; }

    /// <summary>Pin the traffic thread to this CPU (-1: no pinning).</summary>
    public int Cpu { get; init; } = -1;

    /// <summary>A label for the back-end in reports ("perflab", "dpdk").</summary>
    public string BackendLabel { get; init; } = "";

    public bool UsesCallFds => CallFds switch
    {
        CallFdPolicy.Always => true,
        CallFdPolicy.Never => false,
        _ => Poll.UsesNotifications,
    };

    public int EffectiveRxBufSize(int hdrLen) => RxBufSize > 0 ? RxBufSize : Math.Max(2048, (hdrLen + FrameSize + 63) / 64 * 64);
}

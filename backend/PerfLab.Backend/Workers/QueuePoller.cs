namespace PerfLab.Backend.Workers;

/// <summary>
/// What a worker polls: one unit of a device's queues (for virtio-net, a queue pair), built by
/// the device's control plane and handed to a worker with <see cref="Worker.Register"/>. A worker
/// calls it on its own thread only, between the round boundary that adopted it and the one
/// that dropped it; the device touches it only while it is registered nowhere.
/// </summary>
public abstract class QueuePoller
{
    /// <summary>The device (or other owner) that registered this poller.</summary>
    public abstract object Owner { get; }

    /// <summary>One round over the queues; the work done. Allocation-free.</summary>
    public abstract int Poll();

    /// <summary>Re-enables kicks on what the poller waits for, full fence, re-check; true if
    /// work is pending. With <paramref name="kickAhead"/> above 1 the guest may post that many
    /// buffers before it kicks (EVENT_IDX; without it, a kick per buffer).</summary>
    public abstract bool Arm(int kickAhead);

    public abstract void Disarm();

    /// <summary>A queue that will never be kicked (NOFD): the worker must never sleep.</summary>
    public abstract bool MustPoll { get; }

    /// <summary>How many kick fds the poller waits on (at most <see cref="MaxKickFds"/>).</summary>
    public abstract int KickFdCount { get; }

    /// <summary>Kick fd <paramref name="i"/> (-1: none).</summary>
    public abstract int KickFd(int i);

    /// <summary>Kick fd <paramref name="i"/> fired: count it; true if it held kicks. With
    /// <paramref name="drain"/> (a level-triggered registration) read the eventfd to zero, and
    /// count what it held; without (edge-triggered), each report is one wake-up's kicks, and the
    /// counter is left to grow (2^64 writes).</summary>
    public abstract bool OnKick(int i, bool drain);

    /// <summary>Calls signalled on the queues so far (each one means the guest was asleep).</summary>
    public virtual long CallsSent => 0;

    public const int MaxKickFds = 4;

    /// <summary>Pairs, queues or other units served, for stats and tests.</summary>
    public virtual string Describe() => GetType().Name;
}

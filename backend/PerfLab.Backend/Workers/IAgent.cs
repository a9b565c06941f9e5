namespace PerfLab.Backend.Workers;

/// <summary>
/// The work a data-plane thread does, after Agrona's <c>Agent</c>: <see cref="DoWork"/> runs
/// one round and returns how much it did, so that the runner's idle strategy can decide what to
/// do when a round finds nothing. The runner owns the thread; the agent owns what it polls and
/// how it sleeps. Every method but <see cref="Wake"/> is called on the runner's thread.
/// </summary>
public interface IAgent
{
    /// <summary>One round over everything the agent serves; the work done (0: nothing found).
    /// Allocation-free.</summary>
    int DoWork();

    /// <summary>False while the agent has nothing to poll: the runner sleeps in <see cref="Block"/>
    /// without running rounds.</summary>
    bool HasSources { get; }

    /// <summary>Re-enables notifications, full fence, re-checks (see
    /// <see cref="Vhost.Polling.IWaitTarget.Arm"/>); true if work is pending. The peers may post
    /// <paramref name="kickAhead"/> buffers before they notify (1: the next one).</summary>
    bool Arm(int kickAhead);

    /// <summary>Turns notifications off again.</summary>
    void Disarm();

    /// <summary>Sleeps until a notification or <see cref="Wake"/>; drains what fired. True if a
    /// notification (not only a wake) ended the sleep. With <paramref name="timeoutNs"/> above
    /// 0, a timer of that period runs while such sleeps are asked for, so a sleep ends within a
    /// period of any moment (negative: no limit, and the timer stops).</summary>
    bool Block(long timeoutNs);

    /// <summary>Ends a <see cref="Block"/> in progress or the next one (any thread).</summary>
    void Wake();

    /// <summary>Notifications (calls) sent to the peers so far: each one means a peer was
    /// asleep. A few loads, no system call (the hybrid strategy reads it at every idle period).</summary>
    long NotificationsSent { get; }

    /// <summary>Called by the runner between two rounds after a control thread asked for it
    /// (<see cref="AgentRunner.RequestRoundBoundary"/>): the agent adopts what the control plane
    /// published. Allocation-free.</summary>
    void OnRoundBoundary();
}

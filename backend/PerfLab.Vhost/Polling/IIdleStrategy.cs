namespace PerfLab.Vhost.Polling;

/// <summary>
/// What an idle strategy may ask of the loop it idles: the back-end worker (waiting for kicks)
/// or the load generator's guest driver (waiting for calls). Implemented by small structs so
/// that the strategy's generic call inlines.
/// </summary>
public interface IWaitTarget
{
    /// <summary>
    /// Re-enables notifications on every ring the loop serves, places a full fence and re-checks
    /// the rings (docs/protocol.md#split-ring-memory-ordering). Returns true if work is already
    /// pending: do not sleep.
    /// </summary>
    bool Arm();

    /// <summary>Turns notifications off again; called after waking or on finding work.</summary>
    void Disarm();

    /// <summary>
    /// Sleeps until a notification fd fires, the loop's own deadline passes (the load
    /// generator's next scheduled send) or the loop is told to stop; drains what fired.
    /// </summary>
    void Block();

    /// <summary>As <see cref="Arm"/>, but the peer may post up to <paramref name="kickAhead"/>
    /// buffers before it notifies (EVENT_IDX's event index set that far ahead; see
    /// <see cref="KickBatch"/>). The re-check is the same: any work already posted is pending.
    /// A loop that cannot coalesce arms as <see cref="Arm"/>.</summary>
    bool ArmCoalesced(int kickAhead);

    /// <summary>As <see cref="Block"/>, but ended by a timeout within <paramref name="timeoutNs"/>
    /// (a loop may use a periodic timer: a frame posted at any moment is seen within a period).
    /// False when the timeout ended the sleep (no notification fired).</summary>
    bool BlockFor(long timeoutNs);

    /// <summary>Nanoseconds until the loop has scheduled work of its own (long.MaxValue: none).
    /// Sleeping strategies never sleep past it.</summary>
    long NsUntilDeadline { get; }

    /// <summary>How many notifications (kicks, or calls) this loop has sent its peer so far. A
    /// notification means the peer was asleep; the hybrid rule reads this at the start of each
    /// idle period, so it must be cheap (a few loads, no system call).</summary>
    long NotificationsSent { get; }
}

/// <summary>
/// An idle strategy, after Agrona's <c>IIdleStrategy</c>: the loop calls <see cref="OnWork"/>
/// after a round that did work and <see cref="Idle"/> after a round that found none. Each
/// implementation is a mutable struct used as a generic argument
/// (<c>where TIdle : struct, IIdleStrategy</c>) so the JIT specialises and inlines it; keep
/// it in a non-readonly field.
/// </summary>
public interface IIdleStrategy
{
    /// <summary>Resets backoff state; the loop found work.</summary>
    void OnWork();

    /// <summary>The loop found nothing; spin, yield, sleep or arm-and-block.</summary>
    void Idle<T>(ref T target) where T : struct, IWaitTarget;

    /// <summary>True if the strategy ever sleeps on notifications, so the peer must be given
    /// kick/call fds and must honour suppression.</summary>
    bool UsesNotifications { get; }

    /// <summary>The strategy's decisions so far (null: it never sleeps, there is nothing to
    /// count).</summary>
    PollStats? Stats { get; }
}

/// <summary>The strategies by name, as the CLIs spell them.</summary>
public enum PollMode
{
    Busy,
    Interrupt,
    Hybrid,
    Backoff,
}

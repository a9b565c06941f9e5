namespace PerfLab.Vhost.Polling;

/// <summary>
/// Kick coalescing for a sleeping back-end, NIC-style interrupt moderation (ethtool's rx-frames
/// with rx-usecs) over EVENT_IDX: while frames flow, the loop arms so that the driver kicks only
/// when it posts the <see cref="Batch"/>-th buffer past what the device has consumed
/// (<c>avail_event</c> set that far ahead), and a timeout of <see cref="TimeoutNs"/> ends its sleeps
/// (the back-end's worker runs a periodic timer of that period while it coalesces), so that one
/// wake-up serves several bursts and a frame that arrives alone waits at most the timeout.
/// A notified wake-up costs the worker far more CPU than the frames of a burst on a VM
/// (docs/polling.md, "Where a sleeping back-end's CPU goes at 10 %").
///
/// The timeout is the safety net, not a poll: when a sleep ends by it, the loop's next round
/// looks at the ring (what came is served); if that round finds nothing the flow has stopped,
/// and the next arm is a plain one (a kick on the next buffer, no timeout), so an idle loop
/// does not wake every timeout. Work found again restores coalescing. The re-check after arming
/// is unchanged: any buffer already posted keeps the loop awake, whatever the batch.
/// Decisions only, no clock and no system call: the loop passes what happened.
/// </summary>
public struct KickBatch
{
    private readonly int _batch;
    private readonly long _timeoutNs;
    private bool _flowing;   // work seen since the last sleep that found nothing after it
    private bool _timedOut;  // the last sleep ended without a notification; the next round judges

    /// <param name="batch">buffers per kick while frames flow (1 or less: off, a kick per buffer)</param>
    /// <param name="timeoutNs">the longest sleep while coalescing (the bound on a lone frame's
    /// wait); must be positive when <paramref name="batch"/> is above 1</param>
    public KickBatch(int batch, long timeoutNs)
    {
        if (batch > 1 && timeoutNs <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(timeoutNs), "a kick batch needs a timeout: a lone frame would wait for ever");
        }
        _batch = Math.Max(1, batch);
        _timeoutNs = timeoutNs;
    }

    public readonly bool Enabled => _batch > 1;

    public readonly int Batch => _batch;

    public readonly long TimeoutNs => _timeoutNs;

    /// <summary>How many buffers the driver may post before it kicks, for the arm about to be
    /// made (1: the next one, as <see cref="Interrupt"/> arms).</summary>
    public readonly int Ahead => _flowing ? _batch : 1;

    /// <summary>The timeout of the sleep about to start, ns (-1: until notified).</summary>
    public readonly long SleepTimeoutNs => _flowing ? _timeoutNs : -1;

    /// <summary>True while the next round's outcome matters to the rule (the loop's work path
    /// checks this before calling <see cref="OnWork"/>).</summary>
    public readonly bool Deciding => _timedOut | (Enabled & !_flowing);

    /// <summary>Sleeps armed <see cref="Batch"/> ahead with a timeout.</summary>
    public long CoalescedSleeps { readonly get; private set; }

    /// <summary>Coalesced sleeps the timeout ended (no kick came in time).</summary>
    public long Timeouts { readonly get; private set; }

    /// <summary>Timeouts after which the next round found frames (a tail served by the timeout;
    /// the others stopped coalescing until work came again).</summary>
    public long TimeoutsFoundWork { readonly get; private set; }

    /// <summary>A round did work.</summary>
    public void OnWork()
    {
        if (_timedOut)
        {
            TimeoutsFoundWork++;
            _timedOut = false;
        }
        _flowing = Enabled;
    }

    /// <summary>A round found nothing, at the start of an idle period: after a timeout, the
    /// flow has stopped.</summary>
    public void OnIdle()
    {
        if (_timedOut)
        {
            _timedOut = false;
            _flowing = false;
        }
    }

    /// <param name="slept">false when the re-check after arming found work (no sleep)</param>
    /// <param name="notified">a notification (or a wake) ended the sleep, not the timeout</param>
    /// <param name="coalesced">the arm was <see cref="Ahead"/> above 1 with a timeout</param>
    public void OnSleepEnded(bool slept, bool notified, bool coalesced)
    {
        if (!slept || !coalesced)
        {
            return;
        }
        CoalescedSleeps++;
        if (!notified)
        {
            Timeouts++;
            _timedOut = true;
        }
    }
}

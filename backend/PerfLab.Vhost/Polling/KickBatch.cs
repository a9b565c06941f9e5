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
/// <para>
/// With a fill target (<see cref="FillNs"/>), the batch follows the rate, as NIC adaptive
/// moderation does: a fixed count is a fixed wait only at one rate (128 frames are 64 µs at
/// 2 Mpps and 230 µs at 0.55), and the CPU saved is the wake-ups', which a time sets. A sleep
/// the batch ended lasted the batch's fill time plus the wake-up, so the batch is scaled by
/// target ÷ that (at most ×2 or ÷2 per sleep, up to the batch given as the ceiling), and so is
/// a batch the timeout found unfilled after more than the target. The first frame of a batch
/// then waits about the target, wake-up included, at any rate, and the wake-ups stay near one
/// per target. The batch can fall to one buffer (a kick each, as without a batch): a flow
/// whose next frame waits for the answer to this one (one frame in flight) never fills two, so
/// a batch of two would make every frame wait out the timeout. From one, a batch of two is
/// tried only after a kick that came within half the target, and each try the timeout ends
/// doubles the sleeps until the next (up to <see cref="MaxProbeSpacing"/>), as the hybrid
/// rule rations its probes; a try that fills resets the spacing.
/// </para>
/// Decisions only, no clock and no system call: the loop passes what happened.
/// </summary>
public struct KickBatch
{
    private readonly int _max;
    private readonly long _timeoutNs;
    private readonly long _fillNs;
    private int _batch;
    private int _probeSpacing;     // sleeps between tries of a batch of two, from one
    private int _sleepsUntilProbe;
    private bool _probing;         // the batch of two now is a try
    private bool _flowing;   // work seen since the last sleep that found nothing after it
    private bool _timedOut;  // the last sleep ended without a notification; the next round judges

    /// <summary>Where an adaptive batch starts: two bursts of 32.</summary>
    public const int FirstAdaptiveBatch = 64;

    /// <summary>The most sleeps between tries of a batch of two from one: at one frame in flight
    /// a failed try makes a frame wait the timeout, so one frame in this many does.</summary>
    public const int MaxProbeSpacing = 1024;

    /// <param name="batch">buffers per kick while frames flow (1 or less: off, a kick per buffer);
    /// with <paramref name="fillNs"/>, the most</param>
    /// <param name="timeoutNs">the longest sleep while coalescing (the bound on a lone frame's
    /// wait); must be positive when <paramref name="batch"/> is above 1</param>
    /// <param name="fillNs">above 0: the batch follows the rate so that it fills, wake-up
    /// included, in about this long</param>
    public KickBatch(int batch, long timeoutNs, long fillNs = 0)
    {
        if (batch > 1 && timeoutNs <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(timeoutNs), "a kick batch needs a timeout: a lone frame would wait for ever");
        }
        if (fillNs < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(fillNs), "a fill target is a duration");
        }
        _max = Math.Max(1, batch);
        _timeoutNs = timeoutNs;
        _fillNs = _max > 1 ? fillNs : 0;
        _batch = _fillNs > 0 ? Math.Min(_max, FirstAdaptiveBatch) : _max;
        _probeSpacing = 1;
    }

    public readonly bool Enabled => _max > 1;

    /// <summary>Buffers per kick while frames flow, now (it moves with a fill target).</summary>
    public readonly int Batch => _batch;

    /// <summary>The batch's ceiling (the batch itself without a fill target).</summary>
    public readonly int MaxBatch => _max;

    /// <summary>The fill target, ns (0: the batch is fixed).</summary>
    public readonly long FillNs => _fillNs;

    public readonly long TimeoutNs => _timeoutNs;

    /// <summary>How many buffers the driver may post before it kicks, for the arm about to be
    /// made (1: the next one, as <see cref="Interrupt"/> arms).</summary>
    public readonly int Ahead => _flowing ? _batch : 1;

    /// <summary>The timeout of the sleep about to start, ns (-1: until notified).</summary>
    public readonly long SleepTimeoutNs => _flowing & _batch > 1 ? _timeoutNs : -1;

    /// <summary>True while the next round's outcome matters to the rule (the loop's work path
    /// checks this before calling <see cref="OnWork"/>).</summary>
    public readonly bool Deciding => _timedOut | (Enabled & !_flowing);

    /// <summary>Sleeps armed <see cref="Batch"/> ahead with a timeout.</summary>
    public long CoalescedSleeps { readonly get; private set; }

    /// <summary>Coalesced sleeps the timeout ended (no kick came in time).</summary>
    public long Timeouts { readonly get; private set; }

    /// <summary>With a fill target: tries of a batch of two from one, and those the timeout
    /// ended.</summary>
    public long Probes { readonly get; private set; }
    public long ProbesFailed { readonly get; private set; }

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
    /// <param name="sleptNs">from arming to running again (with a fill target: the batch's fill
    /// time and the wake-up)</param>
    public void OnSleepEnded(bool slept, bool notified, bool coalesced, long sleptNs = 0)
    {
        if (!slept)
        {
            return;
        }
        if (!coalesced)
        {
            if (_fillNs > 0 & _flowing & _batch == 1 & notified)
            {
                TryTwo(sleptNs);
            }
            return;
        }
        CoalescedSleeps++;
        if (!notified)
        {
            Timeouts++;
            _timedOut = true;
        }
        if (_fillNs > 0)
        {
            Adapt(notified, sleptNs);
        }
    }

    private void Adapt(bool notified, long sleptNs)
    {
        // A kick says the batch filled in sleptNs, less the wake-up; a timeout after the target
        // says it takes longer than sleptNs. The worker's timer is periodic, so a timeout sooner
        // than the target says nothing (the tick came early in the sleep).
        if (!notified && sleptNs <= _fillNs)
        {
            return;
        }
        if (_probing)
        {
            _probing = false;
            if (!notified)
            {
                ProbesFailed++;
                _batch = 1;
                _probeSpacing = Math.Min(MaxProbeSpacing, _probeSpacing * 2);
                _sleepsUntilProbe = _probeSpacing;
                return;
            }
            _probeSpacing = 1;
        }
        double scale = Math.Clamp((double)_fillNs / Math.Max(1, sleptNs), 0.5, 2.0);
        _batch = Math.Clamp((int)Math.Round(_batch * scale), 1, _max);
    }

    /// <summary>At one buffer per kick, a kick within half the target: two might fill in time.</summary>
    private void TryTwo(long sleptNs)
    {
        if (sleptNs * 2 > _fillNs || --_sleepsUntilProbe > 0)
        {
            return;
        }
        Probes++;
        _probing = true;
        _batch = 2;
    }
}

using System.Runtime.CompilerServices;

namespace PerfLab.Vhost.Polling;

/// <summary>
/// The hybrid strategy's decisions, apart from its mechanism (arming, sleeping) so that a
/// simulated clock can drive it. Times are in the caller's ticks.
/// <para>
/// An idle period starts at the first empty round after work. The side polls it up to a
/// limit, then arms notifications and sleeps. The limit is the budget, which moves only on what
/// polling itself showed about the gaps between work:
/// </para>
/// <list type="bullet">
/// <item>work found while polling, within the break-even time (about what a sleep costs in
/// CPU): polling paid, the budget doubles, to at least the break-even time (KVM halt-polling's
/// grow, with its grow_start);</item>
/// <item>work found later than that, or none within the limit: polling cost more than a sleep
/// would have, the budget halves, down to the floor.</item>
/// </list>
/// <para>
/// A sleep never moves the budget, and nor does the first gap after one. How long a sleep lasts
/// says nothing about this side's traffic when the other side sleeps too: each side's sleep
/// lengthens the other's, which is how the previous rule (halve after a long sleep) let a
/// loaded pair slide into interrupt on both sides. And the first gap after a wake-up starts at
/// an arbitrary point between two arrivals, so it understates them. Two probes find out whether
/// polling would pay again; each is rationed by a backoff that doubles its spacing after every
/// failure (to one chance in 64) and resets on a success:
/// </para>
/// <list type="bullet">
/// <item>wake-probe: the first idle period after a sleep polls up to the break-even time. If work
/// comes within it, the next idle period is an observation: it polls up to the break-even time
/// too, and its gap, a real one, moves the budget. If nothing comes, gaps are longer than
/// the break-even time: the budget halves;</item>
/// <item>notify-poll: after a round that had to notify the other side (it was asleep), poll
/// long enough for its wake-up and answer (the window, <see cref="NotifyWindowTicks"/>), so
/// that the answer finds this side awake and the pair can poll again. It failed if the other
/// side had to be notified again soon after (it went back to sleep: an open-loop peer at a
/// light load, where polling for its answers only burns CPU).</item>
/// </list>
/// <para>
/// With a ceiling above its start (<c>notifyWindowMaxTicks</c>; by default there is none and the
/// window stays fixed), the window follows the wake-ups this side sees, as KVM halt-polling's
/// window follows its blocks. When a notify-poll runs out and the side sleeps, the sleep lasts
/// the rest of the peer's wake-up and answer, then this side's own wake-up: with the two
/// wake-ups about alike, the answer came (poll + sleep) / 2 after the notification. If that is
/// within the ceiling, the window was too short, not the probe wrong: it doubles and the gate
/// stays open, so a pair taking turns on a host whose wake-ups take 100-200 µs escapes to
/// polling in two or three notifications. An answer beyond the ceiling, or a notify-poll
/// answered within a quarter of its window, halves it, down to <see cref="NotifyPollTicks"/>;
/// so does any sleep longer than twice the ceiling (the side stays idle). A notify-poll only
/// follows a notification this side sent, so an idle side never pays the window.
/// </para>
/// </summary>
public struct HybridRule
{
    private const byte Normal = 0, NotifyPoll = 1, WakeProbe = 2, PostWake = 3, Observe = 4;

    private readonly long _min;
    private readonly long _max;
    private readonly long _breakEven;
    private readonly long _notifyPoll;
    private readonly bool _adaptive;

    private long _budget;
    private long _idleStart;
    private long _lastPoll;
    private long _limit;
    private bool _idle;
    private bool _expired;
    private byte _kind;
    private bool _woke;
    private bool _observe;
    private long _window;
    private readonly long _windowMax;
    private long _notifications;
    private bool _notifyJudged;
    private long _notifyCaughtAt;
    private ProbeGate _notifyGate;
    private ProbeGate _wakeGate;

    /// <param name="startTicks">the budget to start from (clamped to min..max)</param>
    /// <param name="minTicks">the budget's floor: every idle period polls at least this long</param>
    /// <param name="maxTicks">the budget's ceiling</param>
    /// <param name="breakEvenTicks">a gap up to this long is cheaper to poll through than to sleep
    /// through (about what a sleep costs in CPU)</param>
    /// <param name="notifyPollTicks">how long to poll after notifying a sleeping peer (its
    /// wake-up and its answer)</param>
    /// <param name="adaptive">false: the budget stays at <paramref name="startTicks"/></param>
    /// <param name="notifyWindowMaxTicks">the notify-poll window's ceiling; up to
    /// <paramref name="notifyPollTicks"/> (the default) the window stays fixed</param>
    public HybridRule(long startTicks, long minTicks, long maxTicks, long breakEvenTicks, long notifyPollTicks, bool adaptive,
        long notifyWindowMaxTicks = 0)
    {
        _min = Math.Max(0, minTicks);
        _max = Math.Max(_min, maxTicks);
        _breakEven = breakEvenTicks;
        _notifyPoll = notifyPollTicks;
        _adaptive = adaptive;
        _budget = adaptive ? Math.Clamp(startTicks, _min, _max) : Math.Max(0, startTicks);
        _window = Math.Max(0, notifyPollTicks);
        _windowMax = Math.Max(_window, notifyWindowMaxTicks);
    }

    public readonly long BudgetTicks => _budget;

    public readonly long BreakEvenTicks => _breakEven;

    public readonly long NotifyPollTicks => _notifyPoll;

    /// <summary>How long the next notify-poll lasts (at least the budget): between
    /// <see cref="NotifyPollTicks"/> and the window's ceiling, following the wake-ups seen
    /// (fixed at <see cref="NotifyPollTicks"/> without a ceiling above it).</summary>
    public readonly long NotifyWindowTicks => _window;

    /// <summary>An idle period is under way (an empty round came after the last work).</summary>
    public readonly bool InIdlePeriod => _idle;

    /// <summary>An idle period is under way or awaits its outcome: the next work or sleep
    /// decides it.</summary>
    public readonly bool Deciding => _idle | _expired;

    /// <summary>Notify-polls and wake-probes started so far.</summary>
    public long NotifyPolls { readonly get; private set; }

    public long WakeProbes { readonly get; private set; }

    /// <summary>Opens an idle period at the first empty round. <paramref name="notificationsSent"/>
    /// counts the notifications this side has sent its peer (kicks or calls) so far.</summary>
    public void StartIdle(long now, long notificationsSent)
    {
        bool notified = notificationsSent != _notifications;
        _notifications = notificationsSent;
        _idle = true;
        _idleStart = now;
        _lastPoll = now;
        if (_notifyJudged && notified)
        {
            // The peer answered a notify-poll and needed waking again: soon means it went back
            // to sleep (the notify-poll bought nothing); later means it had stayed awake.
            _notifyJudged = false;
            if (now - _notifyCaughtAt < 4 * _notifyPoll)
            {
                _notifyGate.Fail();
            }
            else
            {
                _notifyGate.Succeed();
            }
        }
        _kind = Normal;
        _limit = _budget;
        if (_adaptive)
        {
            if (notified && _notifyGate.TryPass())
            {
                _kind = NotifyPoll;
                _limit = Math.Max(_budget, _window);
                NotifyPolls++;
            }
            else if (_woke)
            {
                _kind = PostWake;
                if (_wakeGate.TryPass())
                {
                    _kind = WakeProbe;
                    _limit = Math.Max(_budget, _breakEven);
                    WakeProbes++;
                }
            }
            else if (_observe)
            {
                _kind = Observe;
                _limit = Math.Max(_budget, _breakEven);
            }
        }
        _observe = false;
        _woke = false;
    }

    /// <summary>An empty round at <paramref name="now"/>: true to poll again, false to sleep
    /// (then call <see cref="OnPollExpired"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool KeepPolling(long now)
    {
        _lastPoll = now;
        return now - _idleStart < _limit;
    }

    /// <summary>A round did work: an idle period under way ended by finding it (one that had
    /// run to its limit did not: the side then waited for a send of its own).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnWork()
    {
        if (_idle | _expired)
        {
            EndIdle(found: !_expired);
        }
    }

    /// <summary>The idle period ran to its limit: the side arms and sleeps next (or first
    /// polls for a send of its own that is due soon).</summary>
    public void OnPollExpired() => _expired = true;

    /// <summary>After arming: <paramref name="slept"/> false when the re-check found work,
    /// which counts as work found right at the limit; <paramref name="sleptTicks"/>: how long the
    /// sleep lasted, from arming to running again.</summary>
    public void OnSleepEnded(bool slept, long sleptTicks)
    {
        if (_expired)
        {
            EndIdle(found: !slept, slept ? sleptTicks : -1);
        }
        if (slept && _kind != NotifyPoll && sleptTicks > 2 * _windowMax)
        {
            // The side stays idle: the next notification starts from a shorter window.
            ShrinkWindow();
        }
        _woke = slept;
    }

    private void ShrinkWindow() => _window = Math.Max(_notifyPoll, _window / 2);

    /// <param name="sleptTicks">the sleep that ended the idle period, or -1 when none did (work
    /// found, or the re-check found it)</param>
    private void EndIdle(bool found, long sleptTicks = -1)
    {
        _idle = false;
        _expired = false;
        if (!_adaptive)
        {
            return;
        }
        bool paid = found && _lastPoll - _idleStart <= _breakEven;
        switch (_kind)
        {
            case NotifyPoll:
                // Its outcome is the peer's next move, judged at the next notification.
                if (found)
                {
                    // The peer is awake now: if its next answer comes quickly, both can poll.
                    _notifyJudged = true;
                    _notifyCaughtAt = _lastPoll;
                    _observe = true;
                    if (4 * (_lastPoll - _idleStart) <= _window)
                    {
                        ShrinkWindow();
                    }
                }
                else
                {
                    MissedAnswer(sleptTicks);
                }
                return;
            case PostWake:
                return;
            case WakeProbe:
                if (found)
                {
                    _observe = true;
                    return;
                }
                _wakeGate.Fail();
                break;
            case Observe:
                if (paid)
                {
                    _wakeGate.Succeed();
                }
                else
                {
                    _wakeGate.Fail();
                }
                break;
        }
        _budget = paid ? Math.Min(_max, Math.Max(2 * _budget, _breakEven)) : Math.Max(_min, _budget / 2);
    }

    /// <summary>A notify-poll ran out. Slept: the answer came about (poll + sleep) / 2 after the
    /// notification (the peer's wake-up and this side's, taken as alike); within the ceiling
    /// the window was short and doubles, the gate staying open; otherwise the probe failed.</summary>
    private void MissedAnswer(long sleptTicks)
    {
        long answer = sleptTicks < 0 ? long.MaxValue : (_lastPoll - _idleStart + sleptTicks) / 2;
        if (answer <= _windowMax && _window < _windowMax)
        {
            _window = Math.Min(_windowMax, 2 * _window);
            return;
        }
        _notifyGate.Fail();
        if (answer > _windowMax && sleptTicks >= 0)
        {
            ShrinkWindow();
        }
    }

    /// <summary>Rations a probe: after f failures in a row it runs once in 2^f chances (at most
    /// 64); a success opens it again.</summary>
    private struct ProbeGate
    {
        private const int MaxFailures = 6;
        private int _failures;
        private int _skip;

        public bool TryPass()
        {
            if (_skip > 0)
            {
                _skip--;
                return false;
            }
            return true;
        }

        public void Fail()
        {
            _failures = Math.Min(_failures + 1, MaxFailures);
            _skip = (1 << _failures) - 1;
        }

        public void Succeed()
        {
            _failures = 0;
            _skip = 0;
        }
    }
}

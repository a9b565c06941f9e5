namespace PerfLab.Tests.Polling;

/// <summary>
/// A polling rule as the simulation drives it: the decisions of one side's idle strategy, fed
/// with simulated time (ns). The side calls <see cref="OnWork"/> after a round that did work,
/// <see cref="KeepPolling"/> after each empty round, and, when that says stop,
/// <see cref="OnPollExpired"/>, then arms and sleeps (or finds work pending) and reports it with
/// <see cref="OnSleepEnded"/>.
/// </summary>
public interface ISimRule
{
    void OnWork();

    bool KeepPolling(long nowNs, long notificationsSent);

    void OnPollExpired();

    void OnSleepEnded(bool slept, long sleptNs);

    /// <summary>A send of its own due sooner than this is polled for, never slept for.</summary>
    long PollBeforeDeadlineNs { get; }

    double BudgetNs { get; }
}

/// <summary>What the two coupled sides cost and do. Defaults follow this VM's measurements: a
/// sleep costs about 8 µs of CPU, a halted vCPU takes 10-40 µs to run again after a
/// notification, an eventfd write costs 0.3 µs, a cache line crosses in about 0.1 µs.</summary>
public sealed record SimConfig
{
    public int Burst { get; init; } = 32;
    public int InFlightCap { get; init; } = 256;
    public int DeviceBatch { get; init; } = 32;

    /// <summary>Open-loop offered load, frames per second; 0: as fast as the window allows.</summary>
    public double RatePps { get; init; }

    public long DevicePollNs { get; init; } = 60;
    public long GuestPollNs { get; init; } = 80;
    public long DeviceFrameNs { get; init; } = 25;
    public long GuestFrameNs { get; init; } = 25;
    public long HandoffNs { get; init; } = 100;
    public long NotifyNs { get; init; } = 300;
    public long WakeMinNs { get; init; } = 10_000;
    public long WakeMaxNs { get; init; } = 40_000;
    public long SleepCpuNs { get; init; } = 8_000;

    /// <summary>The host takes a side's vCPU away now and then (0: never): every
    /// StallEvery..2×StallEvery ns, for StallMin..StallMax ns.</summary>
    public long StallEveryNs { get; init; } = 2_000_000;
    public long StallMinNs { get; init; } = 10_000;
    public long StallMaxNs { get; init; } = 200_000;

    public long WarmupNs { get; init; } = 10_000_000;
    public long WindowNs { get; init; } = 20_000_000;
    public int Seed { get; init; } = 1;

    /// <summary>The guest stops sending after the warm-up (an idle window).</summary>
    public bool IdleWindow { get; init; }
}

/// <summary>One side's figures over the measured window.</summary>
public readonly record struct SideResult(long Sleeps, double CpuFraction, double BudgetNsAtEnd);

public sealed record SimResult(double Pps, long Frames, long Bursts, double P50Ns, double P99Ns, SideResult Device, SideResult Guest)
{
    public override string ToString() =>
        $"{Pps / 1e6:F2} Mpps, p50 {P50Ns / 1000:F2} µs, p99 {P99Ns / 1000:F2} µs; device sleeps {Device.Sleeps} cpu {Device.CpuFraction:F2} budget {Device.BudgetNsAtEnd / 1000:F1} µs; guest sleeps {Guest.Sleeps} cpu {Guest.CpuFraction:F2} budget {Guest.BudgetNsAtEnd / 1000:F1} µs";
}

/// <summary>
/// Two coupled sides on a simulated clock: a guest driver that sends bursts into a TX ring and
/// harvests them back from RX, and a device that moves them across. Each side alternates rounds
/// (work, or an empty poll) with its rule's decisions; a side that stops polling arms
/// notifications, re-checks and sleeps until the other side notifies it (a cost in CPU for the
/// sleeper, an eventfd write for the notifier, and a wake-up delay before the sleeper runs),
/// or, for an open-loop guest, until its next send is due. Each side's arrivals therefore
/// depend on the other's sleeps and wake-up costs. The host also stalls either side now and
/// then. Deterministic: one seed, no wall clock.
/// </summary>
public sealed class CoupledPairSimulation
{
    private const long Never = long.MaxValue;

    private readonly SimConfig _c;
    private readonly Side _dev;
    private readonly Side _guest;
    private readonly Random _rng;

    // Frames in flight, oldest first: TX (guest to device) and RX (device back to the guest).
    private readonly Segments _tx = new();
    private readonly Segments _rx = new();
    private long _sent;
    private long _harvested;
    private long _nextDue;
    private readonly double _intervalNs;
    private bool _sending = true;

    // Measured window.
    private bool _measuring;
    private long _frames;
    private long _bursts;
    private readonly SortedDictionary<long, long> _latency = new(); // 10 ns buckets

    private CoupledPairSimulation(SimConfig c, ISimRule device, ISimRule guest)
    {
        _c = c;
        _rng = new Random(c.Seed);
        _dev = new Side(device, c.DevicePollNs, NextStall(0));
        _guest = new Side(guest, c.GuestPollNs, NextStall(0));
        _intervalNs = c.RatePps > 0 ? 1e9 * c.Burst / c.RatePps : 0;
    }

    public static SimResult Run(SimConfig c, ISimRule device, ISimRule guest) => new CoupledPairSimulation(c, device, guest).Run();

    private sealed class Side(ISimRule rule, long pollNs, long nextStall)
    {
        public readonly ISimRule Rule = rule;
        public readonly long PollNs = pollNs;
        public long T;
        public bool Asleep;
        public bool Armed;
        public bool Expired;
        public long WakeAt = Never;
        public long SleepStart;
        public long NextStall = nextStall;
        public long Notifications;
        public long Sleeps;
        public long CpuNs;
    }

    private long NextStall(long t) => _c.StallEveryNs <= 0 ? Never : t + _c.StallEveryNs + _rng.NextInt64(_c.StallEveryNs);

    private SimResult Run()
    {
        long end = _c.WarmupNs + _c.WindowNs;
        long devSleeps0 = 0, guestSleeps0 = 0, devCpu0 = 0, guestCpu0 = 0;
        while (true)
        {
            // Wake a sleeper whose wake-up comes before the next awake side's step.
            long awakeT = Math.Min(_dev.Asleep ? Never : _dev.T, _guest.Asleep ? Never : _guest.T);
            Side? waking = null;
            if (_dev.Asleep && _dev.WakeAt != Never && _dev.WakeAt <= awakeT)
            {
                waking = _dev;
            }
            if (_guest.Asleep && _guest.WakeAt != Never && _guest.WakeAt <= awakeT && (waking == null || _guest.WakeAt < waking.WakeAt))
            {
                waking = _guest;
            }
            if (waking != null)
            {
                waking.T = waking.WakeAt;
                waking.Asleep = false;
                waking.Armed = false;
                waking.WakeAt = Never;
                waking.Rule.OnSleepEnded(true, waking.T - waking.SleepStart);
            }
            else if (awakeT == Never)
            {
                if (!_sending && _sent == _harvested)
                {
                    break; // traffic stopped and both sides sleep: they stay asleep to the end
                }
                throw new InvalidOperationException("both sides asleep with nothing to wake them: a missed wake-up in the model");
            }
            Side s = !_dev.Asleep && (_guest.Asleep || _dev.T <= _guest.T) ? _dev : _guest;
            if (!_measuring && s.T >= _c.WarmupNs)
            {
                _measuring = true;
                _sending = !_c.IdleWindow;
                devSleeps0 = _dev.Sleeps;
                guestSleeps0 = _guest.Sleeps;
                devCpu0 = _dev.CpuNs;
                guestCpu0 = _guest.CpuNs;
            }
            if (s.T >= end)
            {
                break;
            }
            Step(s);
        }
        double window = _c.WindowNs;
        return new SimResult(
            _frames * 1e9 / window, _frames, _bursts, Percentile(0.50), Percentile(0.99),
            new SideResult(_dev.Sleeps - devSleeps0, (_dev.CpuNs - devCpu0) / window, _dev.Rule.BudgetNs),
            new SideResult(_guest.Sleeps - guestSleeps0, (_guest.CpuNs - guestCpu0) / window, _guest.Rule.BudgetNs));
    }

    private void Step(Side s)
    {
        if (s.T >= s.NextStall)
        {
            // The host runs something else on this vCPU; the side resumes when its turn
            // comes again in simulated time.
            s.T += _c.StallMinNs + _rng.NextInt64(Math.Max(1, _c.StallMaxNs - _c.StallMinNs));
            s.NextStall = NextStall(s.T);
            return;
        }
        bool device = ReferenceEquals(s, _dev);
        long t0 = s.T;
        int work = device ? DeviceRound() : GuestRound();
        s.T += s.PollNs;
        s.CpuNs += s.T - t0;
        if (work > 0)
        {
            s.Expired = false;
            s.Rule.OnWork();
            return;
        }
        long deadline = !device && _intervalNs > 0 && _sending && !WindowFull() ? _nextDue : Never;
        if (!s.Expired)
        {
            if (s.Rule.KeepPolling(s.T, s.Notifications))
            {
                return;
            }
            s.Rule.OnPollExpired();
            s.Expired = true;
        }
        if (deadline - s.T < s.Rule.PollBeforeDeadlineNs)
        {
            return; // its own send is due sooner than a sleep would pay for
        }
        s.Expired = false;
        // Arm, full fence, re-check, sleep. The fence pairs with the publisher's: a frame
        // published before the arming is seen by the re-check (which waits for its cache line);
        // one published after it sees the arming and notifies.
        Segments mine = device ? _tx : _rx;
        long? seen = mine.FirstPublishedBy(s.T);
        if (seen != null || (deadline != Never && deadline <= s.T))
        {
            s.T = Math.Max(s.T, seen ?? 0);
            s.Rule.OnSleepEnded(false, 0);
            return;
        }
        s.Asleep = true;
        s.SleepStart = s.T;
        s.Sleeps++;
        s.CpuNs += _c.SleepCpuNs;
        s.WakeAt = deadline == Never ? Never : deadline + WakeDelay();
        if (mine.FirstPublishedAfter(s.T) is long publishedAt)
        {
            // The other side ran ahead of this one in simulated time and published after this
            // arming: it saw the armed flag.
            (device ? _guest : _dev).Notifications++;
            s.WakeAt = Math.Min(s.WakeAt, publishedAt + WakeDelay());
            return;
        }
        s.Armed = true;
    }

    private long WakeDelay() => _c.WakeMinNs + _rng.NextInt64(Math.Max(1, _c.WakeMaxNs - _c.WakeMinNs));

    /// <summary>Publishes to the other side: notifies it if it armed (once per arming, as
    /// EVENT_IDX suppresses the rest).</summary>
    private void Notify(Side from, Side to)
    {
        if (!to.Armed)
        {
            return;
        }
        to.Armed = false;
        from.Notifications++;
        from.T += _c.NotifyNs;
        if (to.Asleep)
        {
            to.WakeAt = Math.Min(to.WakeAt, from.T + WakeDelay());
        }
    }

    private int DeviceRound()
    {
        int n = 0;
        long doneAt = _dev.T + Math.Min(_c.DeviceBatch, _tx.Visible(_dev.T)) * _c.DeviceFrameNs;
        while (n < _c.DeviceBatch && _tx.HeadVisible(_dev.T))
        {
            (long stamp, int k) = _tx.TakeHead(_c.DeviceBatch - n);
            _rx.Add(stamp, k, doneAt, _c.HandoffNs);
            n += k;
        }
        if (n == 0)
        {
            return 0;
        }
        _dev.T = doneAt;
        Notify(_dev, _guest);
        return n;
    }

    private bool WindowFull() => _sent - _harvested + _c.Burst > _c.InFlightCap;

    private int GuestRound()
    {
        Side g = _guest;
        int n = 0;
        while (_rx.HeadVisible(g.T))
        {
            (long stamp, int k) = _rx.TakeHead(int.MaxValue);
            if (_measuring)
            {
                long bucket = (g.T - stamp) / 10;
                _latency[bucket] = _latency.GetValueOrDefault(bucket) + k;
                _frames += k;
            }
            n += k;
        }
        _harvested += n;
        g.T += n * _c.GuestFrameNs;
        int sent = 0;
        while (_sending && !WindowFull())
        {
            long stamp = g.T;
            if (_intervalNs > 0)
            {
                if (_nextDue > g.T)
                {
                    break;
                }
                stamp = _nextDue;
                _nextDue += (long)_intervalNs;
            }
            g.T += _c.Burst * _c.GuestFrameNs;
            _tx.Add(stamp, _c.Burst, g.T, _c.HandoffNs);
            _sent += _c.Burst;
            sent += _c.Burst;
            if (_measuring)
            {
                _bursts++;
            }
            Notify(g, _dev);
        }
        return n + sent;
    }

    private double Percentile(double p)
    {
        long total = _latency.Values.Sum();
        if (total == 0)
        {
            return 0;
        }
        long rank = (long)Math.Ceiling(p * total);
        long seen = 0;
        foreach (var (lat, count) in _latency)
        {
            seen += count;
            if (seen >= rank)
            {
                return lat * 10;
            }
        }
        return _latency.Keys.Last() * 10;
    }

    /// <summary>Frames in flight as (stamp, count, published-at, visible-at) segments, oldest
    /// first: a segment is visible to a polling reader a cache-line hand-off after it is
    /// published.</summary>
    private sealed class Segments
    {
        private readonly List<(long Stamp, int Count, long PublishedAt, long VisibleAt)> _list = new();
        private int _head;

        public void Add(long stamp, int count, long publishedAt, long handoffNs) => _list.Add((stamp, count, publishedAt, publishedAt + handoffNs));

        public bool HeadVisible(long t) => _head < _list.Count && _list[_head].VisibleAt <= t;

        public int Visible(long t)
        {
            int n = 0;
            for (int i = _head; i < _list.Count && _list[i].VisibleAt <= t; i++)
            {
                n += _list[i].Count;
            }
            return n;
        }

        /// <summary>When the oldest segment published by <paramref name="t"/> becomes visible; null if none.</summary>
        public long? FirstPublishedBy(long t) => _head < _list.Count && _list[_head].PublishedAt <= t ? _list[_head].VisibleAt : null;

        /// <summary>When the oldest segment published after <paramref name="t"/> was published; null if none.</summary>
        public long? FirstPublishedAfter(long t)
        {
            for (int i = _head; i < _list.Count; i++)
            {
                if (_list[i].PublishedAt > t)
                {
                    return _list[i].PublishedAt;
                }
            }
            return null;
        }

        /// <summary>Takes up to <paramref name="max"/> frames of the head segment.</summary>
        public (long Stamp, int Count) TakeHead(int max)
        {
            var seg = _list[_head];
            if (seg.Count > max)
            {
                _list[_head] = seg with { Count = seg.Count - max };
                return (seg.Stamp, max);
            }
            if (++_head > 4096)
            {
                _list.RemoveRange(0, _head);
                _head = 0;
            }
            return (seg.Stamp, seg.Count);
        }
    }
}

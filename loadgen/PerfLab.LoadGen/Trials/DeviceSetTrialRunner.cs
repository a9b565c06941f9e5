using HdrHistogram;
using PerfLab.LoadGen.Guest;
using PerfLab.LoadGen.Results;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Polling;

namespace PerfLab.LoadGen.Trials;

/// <summary>
/// Trials over several devices at once (issue 14's density question): one set-up
/// <see cref="LoadGenerator"/> per device (its own memory, handshake and rings), each trial's
/// total rate split evenly across them, all starting together. Guests that busy-poll
/// (<see cref="PollMode.Busy"/>) share ONE thread, pinned to the options' CPU, which steps
/// every device's engine in turn (N busy threads cannot share a CPU: each would spin away the
/// others' time slices); guests that sleep get a thread each. Both run
/// <see cref="TrialRunner"/>'s phases. The result carries the totals and, in
/// <see cref="TrialResult.Devices"/>, each device's own figures. Back-end figures (CPU, drops,
/// wake-ups) are read once per distinct stats socket or pid, so a back-end that serves every
/// device is counted once and several single-device back-ends are summed.
/// </summary>
public sealed class DeviceSetTrialRunner : ITrialRunner
{
    private readonly LoadGenerator[] _gens;
    private readonly TrialRunner[] _runners;
    private bool _ran;

    public DeviceSetTrialRunner(IReadOnlyList<LoadGenerator> generators, double drainTimeoutS = 0.05, double graceS = TrafficEngine.LossyGraceS)
    {
        if (generators.Count == 0)
        {
            throw new ArgumentException("no devices", nameof(generators));
        }
        _gens = [.. generators];
        _runners = new TrialRunner[_gens.Length];
        var seen = new HashSet<string>();
        for (int i = 0; i < _gens.Length; i++)
        {
            LoadGenerator g = _gens[i];
            LoadGenOptions o = g.Options;
            // The back-end's snapshot is taken by the first device that names it; the others
            // leave it out, so one back-end's CPU and drops are not counted once per device.
            string? key = o.BackendStatsSocket != null ? "s:" + o.BackendStatsSocket : o.BackendPid > 0 ? "p:" + o.BackendPid : null;
            if (key != null && !seen.Add(key))
            {
                o = o with { BackendStatsSocket = null, BackendPid = 0 };
            }
            SharedThread = i == 0 ? o.Poll.Mode == PollMode.Busy : SharedThread && o.Poll.Mode == PollMode.Busy;
            _runners[i] = new TrialRunner(g.Engine ?? throw new InvalidOperationException("Setup every device first"), o, () => [g.Guest.DrainErrFds()])
            {
                GapS = 0,
                DrainTimeoutS = drainTimeoutS,
                GraceS = graceS,
            };
        }
    }

    public int Devices => _gens.Length;

    /// <summary>Every device's guest busy-polls: one thread steps them all in turn.</summary>
    public bool SharedThread { get; }

    /// <summary>The shared thread's allocation over the last trial's window and drain, bytes
    /// (-1: a thread per device). Zero once warmed up.</summary>
    public long LastSteppingAllocatedBytes { get; private set; } = -1;

    /// <summary>Quiet time before every trial but the first, s.</summary>
    public double GapS { get; init; } = 0.01;

    /// <summary>The longest a trial may take beyond its duration before it counts as hung.</summary>
    public TimeSpan Overrun { get; init; } = TimeSpan.FromSeconds(30);

    public TrialResult Run(double totalPps, double durationS) => Run(new TrialSpec(totalPps, durationS));

    /// <summary>Every device ping-pongs (one frame in flight each) for <paramref name="durationS"/>.</summary>
    public TrialResult PingPong(double durationS) => Run(TrialSpec.PingPong(durationS));

    /// <summary>
    /// One trial on every device at once: <paramref name="total"/>'s rate and in-flight cap are
    /// split evenly (a ping-pong stays one frame in flight per device); rate 0 is as fast as
    /// each device's rings allow.
    /// </summary>
    public TrialResult Run(TrialSpec total)
    {
        int n = _gens.Length;
        TrialSpec each = total with
        {
            RatePps = total.RatePps / n,
            MaxInFlight = total.MaxInFlight <= 1 ? total.MaxInFlight : Math.Max(1, total.MaxInFlight / n),
        };
        if (_ran && GapS > 0)
        {
            Thread.Sleep(TimeSpan.FromSeconds(GapS));
        }
        _ran = true;
        var results = new TrialResult[n];
        TimeSpan limit = TimeSpan.FromSeconds(total.DurationS) + Overrun;
        if (SharedThread)
        {
            RunOnOneThread(each, results, limit);
        }
        else
        {
            RunThreadPerDevice(each, results, limit);
        }
        return Totals(total, results);
    }

    /// <summary>A thread per device (pinned to its options' CPU), each running its own trial.</summary>
    private void RunThreadPerDevice(TrialSpec each, TrialResult[] results, TimeSpan limit)
    {
        int n = _gens.Length;
        var errors = new Exception?[n];
        using var start = new Barrier(n);
        var threads = new Thread[n];
        for (int i = 0; i < n; i++)
        {
            int d = i;
            threads[d] = new Thread(() =>
            {
                try
                {
                    Pin(_gens[d].Options.Cpu);
                    start.SignalAndWait();
                    results[d] = _runners[d].Run(each, Phase(d, n));
                }
                catch (Exception e)
                {
                    errors[d] = e;
                }
            }) { IsBackground = true, Name = $"loadgen-device-{d}" };
            threads[d].Start();
        }
        for (int d = 0; d < n; d++)
        {
            if (!threads[d].Join(limit))
            {
                throw new TimeoutException($"device {d}'s trial did not end within {limit.TotalSeconds:F0} s");
            }
        }
        for (int d = 0; d < n; d++)
        {
            if (errors[d] != null)
            {
                throw new IOException($"device {d}: {errors[d]!.Message}", errors[d]);
            }
        }
    }

    /// <summary>One thread (pinned to the first device's CPU) steps every device in turn.</summary>
    private void RunOnOneThread(TrialSpec each, TrialResult[] results, TimeSpan limit)
    {
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                Pin(_gens[0].Options.Cpu);
                StepTogether(each, results);
            }
            catch (Exception e)
            {
                error = e;
            }
        }) { IsBackground = true, Name = "loadgen-devices" };
        thread.Start();
        if (!thread.Join(limit))
        {
            throw new TimeoutException($"the devices' trial did not end within {limit.TotalSeconds:F0} s");
        }
        if (error != null)
        {
            throw new IOException(error.Message, error);
        }
    }

    /// <summary>Device <paramref name="d"/>'s schedule starts d/n of a burst interval late:
    /// the devices' bursts are due one after another, evenly spread, not all at once (n bursts
    /// due together would queue behind each other in the guest and the back-end, a latency no
    /// real set of guests would show).</summary>
    private static double Phase(int d, int n) => (double)d / n;

    private static void Pin(int cpu)
    {
        if (cpu >= 0)
        {
            Affinity.PinCurrentThread(cpu);
        }
    }

    private enum Stage : byte
    {
        Window,
        Draining,
        Done,
    }

    /// <summary>
    /// <see cref="TrialRunner.Run(TrialSpec)"/>'s phases for every device on this thread: begin
    /// every device (snapshots), start every schedule, then one pass after another over the
    /// devices: a device in its window steps (reclaim, receive, send what is due), a device
    /// whose schedule has run out drains (<see cref="TrafficEngine.DrainStep"/>), until all
    /// have drained; then end every device (snapshots, results). Between the first start and
    /// the last drain nothing is allocated.
    /// </summary>
    private void StepTogether(TrialSpec each, TrialResult[] results)
    {
        int n = _runners.Length;
        var trials = new TrialRunner.ActiveTrial[n];
        var engines = new TrafficEngine[n];
        var drains = new TrialDrain[n];
        var stage = new Stage[n];
        for (int d = 0; d < n; d++)
        {
            trials[d] = _runners[d].Begin(each);
            engines[d] = _runners[d].Engine;
        }
        CpuTime cpu0 = CpuTime.Thread();
        long alloc0 = GC.GetAllocatedBytesForCurrentThread();
        long nextEnd = long.MaxValue;
        long startTick = Clock.Now();
        for (int d = 0; d < n; d++)
        {
            _runners[d].Start(trials[d], Phase(d, n));
            nextEnd = Math.Min(nextEnd, engines[d].ScheduleEndTick);
        }
        int inWindow = n, left = n;
        while (left > 0)
        {
            int work = 0;
            bool idleDrain = false;
            for (int d = 0; d < n; d++)
            {
                if (stage[d] == Stage.Window)
                {
                    work += engines[d].Step();
                }
                else if (stage[d] == Stage.Draining)
                {
                    if (engines[d].DrainStep(ref drains[d], out bool idle))
                    {
                        stage[d] = Stage.Done;
                        left--;
                    }
                    else if (idle)
                    {
                        idleDrain = true;
                    }
                    else
                    {
                        work++;
                    }
                }
            }
            long now = Clock.Now();
            // A clock that reads earlier than the start ends every window now (Clock.Expired).
            bool jumped = now < startTick;
            if (now >= nextEnd || jumped)
            {
                // The schedules that have run out end their windows and start draining.
                nextEnd = long.MaxValue;
                for (int d = 0; d < n; d++)
                {
                    if (stage[d] != Stage.Window)
                    {
                        continue;
                    }
                    if (now >= engines[d].ScheduleEndTick || jumped)
                    {
                        trials[d].EndWindow();
                        drains[d] = _runners[d].BeginDrain(trials[d]);
                        stage[d] = Stage.Draining;
                        inWindow--;
                    }
                    else
                    {
                        nextEnd = Math.Min(nextEnd, engines[d].ScheduleEndTick);
                    }
                }
            }
            if (work == 0)
            {
                if (idleDrain && inWindow == 0)
                {
                    // Every device is draining and nothing came back: the back-end may be
                    // sleeping; pause, then nudge the rings of the drains still waiting.
                    NanoSleep.Sleep(TrafficEngine.NudgePauseNs);
                    for (int d = 0; d < n; d++)
                    {
                        if (stage[d] == Stage.Draining)
                        {
                            engines[d].KickAll();
                        }
                    }
                }
                else
                {
                    Pause.Once();
                }
            }
        }
        long alloc1 = GC.GetAllocatedBytesForCurrentThread();
        long threadCpu = (CpuTime.Thread() - cpu0).TotalNs;
        LastSteppingAllocatedBytes = alloc1 - alloc0;
        for (int d = 0; d < n; d++)
        {
            // One thread did every device's work: each device gets an even share of its CPU
            // (the totals add up to the thread's).
            long share = threadCpu / n + (d == n - 1 ? threadCpu % n : 0);
            results[d] = _runners[d].End(trials[d]) with { LoadgenThreadCpuNs = share };
        }
    }

    /// <summary>The devices' results added up (process-wide figures, such as the load
    /// generator's process CPU, are not added: they are the same process).</summary>
    public static TrialResult Totals(TrialSpec total, IReadOnlyList<TrialResult> devices)
    {
        var h = new LongHistogram(TrafficEngine.MaxLatencyNs, 3);
        foreach (TrialResult r in devices)
        {
            if (r.Histogram != null)
            {
                h.Add(r.Histogram);
            }
        }
        long offered = devices.Sum(r => r.Offered), received = devices.Sum(r => r.Received);
        long lost = Math.Max(0, offered - received);
        return new TrialResult
        {
            IntendedPps = total.RatePps,
            IntendedDurationS = total.DurationS,
            Burst = devices[0].Burst,
            MaxInFlight = total.MaxInFlight,
            WindowS = devices.Max(r => r.WindowS),
            IntervalS = devices.Max(r => r.IntervalS),
            Offered = offered,
            Sent = devices.Sum(r => r.Sent),
            TxDropped = devices.Sum(r => r.TxDropped),
            GeneratorShortfall = devices.Sum(r => r.GeneratorShortfall),
            Received = received,
            Lost = lost,
            LossRatio = offered > 0 ? (double)lost / offered : 0,
            Stale = devices.Sum(r => r.Stale),
            Errors = devices.Sum(r => r.Errors),
            Kicks = devices.Sum(r => r.Kicks),
            CallsReceived = devices.Sum(r => r.CallsReceived),
            LoadgenCpuNs = devices.Max(r => r.LoadgenCpuNs),
            LoadgenThreadCpuNs = devices.Sum(r => r.LoadgenThreadCpuNs),
            BackendCpuNs = Known(devices, r => r.BackendCpuNs),
            BackendIntervalNs = devices.Max(r => r.BackendIntervalNs),
            BackendDropped = Known(devices, r => r.BackendDropped),
            BackendCalls = Known(devices, r => r.BackendCalls),
            BackendKicksReceived = Known(devices, r => r.BackendKicksReceived),
            BackendWakeups = Known(devices, r => r.BackendWakeups),
            // One guest thread's wait (the shared thread's, or the worst device thread's): summed,
            // the shared thread would count once per device.
            LoadgenThreadWaitNs = devices.Max(r => r.LoadgenThreadWaitNs),
            BackendWaitNs = Known(devices, r => r.BackendWaitNs),
            GuestPoll = PollDecisions.Sum(devices.Select(r => r.GuestPoll)),
            BackendPoll = PollDecisions.Sum(devices.Select(r => r.BackendPoll)),
            LatencyNs = ResultBuilder.Summarize(h),
            Histogram = h,
            Devices = [.. devices],
        };
    }

    /// <summary>The sum of the known (>= 0) figures; -1 when none is known.</summary>
    private static long Known(IReadOnlyList<TrialResult> devices, Func<TrialResult, long> f)
    {
        long sum = -1;
        foreach (TrialResult r in devices)
        {
            long v = f(r);
            if (v >= 0)
            {
                sum = Math.Max(sum, 0) + v;
            }
        }
        return sum;
    }
}

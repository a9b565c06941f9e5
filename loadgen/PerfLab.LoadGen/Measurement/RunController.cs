using PerfLab.LoadGen.Exercises;
using PerfLab.LoadGen.Guest;
using PerfLab.LoadGen.Results;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Interop;

namespace PerfLab.LoadGen.Measurement;

/// <summary>
/// A run's phases on a set-up device: first frame (the connect-to-first-frame time), the
/// reconnect cycles and the reset asked for, warm-up, the measured window (with memory-table
/// changes if asked), drain, the dirty-log check; then the window's figures.
/// </summary>
public sealed class RunController
{
    private readonly LoadGenerator _g;
    private readonly LoadGenOptions _o;
    private readonly List<double> _reconnectMs = [];

    public RunController(LoadGenerator g)
    {
        _g = g;
        _o = g.Options;
    }

    /// <summary>From opening the connection to the first frame back, ms (-1: not yet or never).</summary>
    public double FirstFrameMs { get; private set; } = -1;

    /// <summary>Each timed reconnect, ms (-1: no frame came back).</summary>
    public IReadOnlyList<double> ReconnectMs => _reconnectMs;

    /// <summary>The dirty-log check after the last run; (-1, -1, -1) when not checked.</summary>
    public (long Logged, long Expected, long Mismatches) Dirty { get; private set; } = (-1, -1, -1);

    public LoadGenResult Run()
    {
        TrafficEngine e = _g.Engine ?? throw new InvalidOperationException("Setup first");
        if (_o.Cpu >= 0)
        {
            Affinity.PinCurrentThread(_o.Cpu);
        }
        Affinity.SetTimerSlack(1000);
        e.StartSchedule();
        if (FirstFrameMs < 0)
        {
            FirstFrameMs = RunToFirstFrame(e);
        }
        for (int k = 0; k < _o.Reconnects; k++)
        {
            _reconnectMs.Add(ReconnectAndTime());
        }
        if (_o.ResetDevice)
        {
            _g.ResetAndRestart();
        }
        // Fetch the back-end's figures once before the warm-up, so that this path is compiled,
        // and tiered up, during the warm-up: a method first run at the window's start would be
        // re-jitted in the middle of it, and the JIT's thread preempts a busy poller for
        // milliseconds on a 2-core machine.
        if (_o.WarmupS > 0)
        {
            _ = MeasurementWindow.Begin(e, _o);
            _ = MeasurementWindow.End(e, _o);
        }
        long t = Clock.Now();
        if (_o.WarmupS > 0)
        {
            e.RunUntil(t + (long)(_o.WarmupS * Clock.TicksPerSecond));
        }
        using var remapper = _o.RemapIntervalMs > 0 ? new Remapper(_g.ChangeMemoryTable, _o.RemapIntervalMs) : null;
        int remaps0 = _g.MemoryRemaps;
        MeasurementWindow w = MeasurementWindow.Begin(e, _o);
        // The open-loop schedule restarts with the window: the snapshot above (a socket round
        // trip to the back-end, JIT-compiled on first use) stalls this thread, and bursts "due"
        // during our own stall would count as the system's queueing. The bench does the same
        // in its IterationSetup.
        e.StartSchedule();
        e.Measuring = true;
        long deadline = Clock.Now() + (long)(_o.DurationS * Clock.TicksPerSecond);
        // The traffic thread's own allocation over the window (0 is the rule: the data path,
        // the idle strategy and the latency recording allocate nothing).
        long allocated0 = GC.GetAllocatedBytesForCurrentThread();
        e.RunUntil(deadline);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocated0;
        e.Measuring = false;
        MeasurementWindow end = MeasurementWindow.End(e, _o);
        remapper?.Stop();
        int remaps = _g.MemoryRemaps - remaps0;
        e.Drain(_o.DrainTimeoutS);
        if (_o.DirtyLog)
        {
            Dirty = _g.CheckDirtyLog();
        }
        return ResultBuilder.Build(_g, w, end) with { MemoryRemaps = remaps, TrafficThreadAllocatedBytes = allocated };
    }

    /// <summary>Runs until a frame comes back (or the connect timeout passes); returns the ms
    /// since the connection was opened, or -1.</summary>
    private double RunToFirstFrame(TrafficEngine e)
    {
        e.Sending = true;
        e.StartSchedule();
        e.RunUntilReceived(e.C.Received + 1, Clock.Now() + (long)(_o.ConnectTimeoutS * Clock.TicksPerSecond));
        return e.C.FirstRxTick == 0 ? -1 : Clock.TicksToNs(e.C.FirstRxTick - _g.Session.ConnectTick) / 1e6;
    }

    /// <summary>
    /// One measured reconnect: lets every frame in flight come back, closes the connection,
    /// reopens it (<see cref="LoadGenerator.Reconnect"/>) and sends until a frame is back.
    /// Returns the ms from reopening to that frame: the back-end's reconnect back-off, the
    /// handshake, the rings' restart and one round trip.
    /// </summary>
    public double ReconnectAndTime()
    {
        TrafficEngine e = _g.Engine ?? throw new InvalidOperationException("Setup first");
        _g.Reconnect();
        return RunToFirstFrame(e);
    }
}

using System.Runtime.CompilerServices;
using PerfLab.Backend.Logging;
using PerfLab.Backend.Stats;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Polling;

namespace PerfLab.Backend.Workers;

/// <summary>
/// Runs an <see cref="IAgent"/> on its own thread, after Agrona's <c>AgentRunner</c>: pins the
/// thread, loops rounds (<see cref="IAgent.DoWork"/>), lets the idle strategy decide what to do
/// after a round that found nothing, meters what the thread allocates, and gives control threads
/// a handshake at a round boundary (<see cref="RequestRoundBoundary"/> /
/// <see cref="WaitRoundBoundary"/>): no work item is half done there and no guest memory is in
/// use. A runner can also be driven without a thread (tests call the agent's rounds on their
/// own thread; a round boundary is then immediate).
/// </summary>
public abstract class AgentRunner : IDisposable
{
    private const int HandshakeTimeoutMs = 5000;

    private readonly int _cpu;
    private Thread? _thread;
    private volatile bool _stop;
    private volatile bool _exited;

    // Handshake: control threads bump _requested; the runner thread calls the agent's
    // OnRoundBoundary and publishes the generation it has reached in _passed.
    private long _requested;
    private long _passed;

    private long _lastAllocRefresh;
    private static readonly long s_allocRefreshTicks = Clock.NsToTicks(10_000_000);

    protected AgentRunner(IAgent agent, string name, int cpu)
    {
        Agent = agent;
        Name = name;
        _cpu = cpu;
    }

    public IAgent Agent { get; }

    public string Name { get; }

    /// <summary>The idle strategy, as the CLI spells it.</summary>
    public abstract string StrategyName { get; }

    /// <summary>Linux thread id of the runner thread (0 until it runs), for per-thread CPU time.</summary>
    public int Tid { get; private set; }

    public WorkerCounters Counters { get; } = new();

    public bool IsRunning => _thread != null && !_exited;

    public void Start()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = Name };
        _thread.Start();
    }

    private void Run()
    {
        Tid = LibC.gettid();
        if (_cpu >= 0 && !Affinity.PinCurrentThread(_cpu))
        {
            Log.Default.PinFailed(Name, _cpu);
        }
        Affinity.SetTimerSlack(1000);
        Counters.AllocatedAtStart = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            while (true)
            {
                try
                {
                    Loop();
                    break;
                }
                catch (AccessViolationException) when (GuestMemoryFaults.Catchable)
                {
                    // A front-end shrank a memory file under its rings: the revoked mapping is
                    // harmless memory now, and its device's pollers are withdrawn before the
                    // next round. Not a shrunk file: a bug (below).
                    if (!GuestMemoryFaults.TryRecover())
                    {
                        throw;
                    }
                }
            }
        }
        catch (Exception e)
        {
            // A bug, not a guest fault (those are status codes): log it and stop this runner.
            Log.Default.WorkerCrashed(e, Name);
        }
        finally
        {
            _exited = true; // handshakes no longer wait for this thread
        }
    }

    protected abstract void Loop();

    /// <summary>The strategy's idle decision, once (tests).</summary>
    internal abstract void IdleOnce();

    /// <summary>Tells the strategy a round did work (tests driving rounds themselves).</summary>
    internal abstract void WorkedOnce();

    /// <summary>The strategy's decisions: sleeps by length, budget, probes (null for busy
    /// polling). Read racily by the stats thread.</summary>
    public abstract PollStats? PollStats { get; }

    /// <summary>At a round boundary: stop (false) or adopt what control threads published.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected bool AtRoundBoundary()
    {
        if (_stop)
        {
            return false;
        }
        long requested = Volatile.Read(ref _requested);
        if (requested != _passed)
        {
            Agent.OnRoundBoundary();
            // Release: what the agent adopted is in place before a control thread sees the ack.
            Volatile.Write(ref _passed, requested);
        }
        return true;
    }

    /// <summary>
    /// Asks the runner to pass a round boundary (waking its agent if it sleeps) and returns a
    /// ticket for <see cref="WaitRoundBoundary"/>. Publish what the agent must adopt before
    /// calling this. Without a running thread the boundary is passed here, at once.
    /// </summary>
    public long RequestRoundBoundary()
    {
        long ticket = Interlocked.Increment(ref _requested); // full fence: the publication is visible first
        if (!IsRunning)
        {
            Agent.OnRoundBoundary();
            Volatile.Write(ref _passed, Math.Max(Volatile.Read(ref _passed), ticket));
            return ticket;
        }
        Agent.Wake();
        return ticket;
    }

    /// <summary>Waits until the runner passed the round boundary of <paramref name="ticket"/>:
    /// from then on its agent runs only what was published before the request.</summary>
    public void WaitRoundBoundary(long ticket)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var spin = new SpinWait();
        while (Volatile.Read(ref _passed) < ticket && IsRunning)
        {
            if (sw.ElapsedMilliseconds > HandshakeTimeoutMs)
            {
                throw new TimeoutException($"{Name} did not reach a round boundary within {HandshakeTimeoutMs / 1000} s");
            }
            spin.SpinOnce(sleep1Threshold: -1); // yield, never Thread.Sleep(1): a whole timer tick per handshake
        }
    }

    /// <summary>Publishes the thread's allocation count (data plane only: the control plane
    /// builds everything the agent adopts); at most every 10 ms from the loop, and at every sleep.</summary>
    protected void RefreshAllocated()
    {
        Counters.AllocatedBytes = GC.GetAllocatedBytesForCurrentThread() - Counters.AllocatedAtStart;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected void MaybeRefreshAllocated(long now)
    {
        // Unsigned: a clock that went back (Clock.Expired) refreshes and re-bases at once.
        if ((ulong)(now - _lastAllocRefresh) > (ulong)s_allocRefreshTicks)
        {
            _lastAllocRefresh = now;
            RefreshAllocated();
        }
    }

    /// <summary>Sleeps in the agent until a notification or a wake, or at most
    /// <paramref name="timeoutNs"/> (negative: no limit); counts the sleep. False when no
    /// notification ended it (a timeout, or a wake).</summary>
    internal bool Sleep(long timeoutNs = -1)
    {
        Counters.Sleeps++;
        RefreshAllocated();
        bool notified = Agent.Block(timeoutNs);
        Counters.Wakeups++;
        if (!notified && timeoutNs < 0)
        {
            Counters.SpuriousWakeups++;
        }
        return notified;
    }

    public void Stop()
    {
        if (_thread == null)
        {
            return;
        }
        _stop = true;
        Agent.Wake();
        if (!_thread.Join(5000))
        {
            Log.Default.WorkerDidNotStop(Name);
        }
        _thread = null;
    }

    public virtual void Dispose() => Stop();
}

/// <summary>
/// A runner specialised for one agent type and one idle strategy, both struct arguments so
/// that the loop's calls are direct and inline (<typeparamref name="TAgent"/> is a struct
/// holding the agent, e.g. <see cref="PollingAgent.Handle"/>).
/// </summary>
public sealed class AgentRunner<TAgent, TIdle> : AgentRunner
    where TAgent : struct, IAgent
    where TIdle : struct, IIdleStrategy
{
    private readonly TAgent _agent;
    // Mutable strategy state: must not be readonly (a readonly field would be copied per call).
    private TIdle _idle;

    public AgentRunner(TAgent agent, string name, int cpu, TIdle idle, string strategyName)
        : base(agent, name, cpu)
    {
        _agent = agent;
        _idle = idle;
        StrategyName = strategyName;
    }

    public override string StrategyName { get; }

    protected override void Loop()
    {
        var target = new AgentWaitTarget<TAgent>(this, _agent);
        TAgent agent = _agent;
        WorkerCounters c = Counters;
        while (AtRoundBoundary())
        {
            if (!agent.HasSources)
            {
                Sleep();
                continue;
            }
            long t0 = Clock.Now();
            int work = agent.DoWork();
            c.Rounds++;
            MaybeRefreshAllocated(t0);
            if (work > 0)
            {
                c.BusyTicks += Clock.Now() - t0;
                _idle.OnWork();
            }
            else
            {
                c.EmptyPolls++;
                _idle.Idle(ref target);
            }
        }
    }

    /// <summary>
    /// Runs the strategy's idle decision once (tests: call it when the guest has just posted
    /// work, so that an interrupt strategy's arm-and-re-check finds it and does not block).
    /// </summary>
    internal override void IdleOnce()
    {
        var target = new AgentWaitTarget<TAgent>(this, _agent);
        _idle.Idle(ref target);
    }

    internal override void WorkedOnce() => _idle.OnWork();

    public override PollStats? PollStats => _idle.Stats;
}

/// <summary>What an idle strategy may ask of a runner: its agent's notifications and sleep.</summary>
public readonly struct AgentWaitTarget<TAgent> : IWaitTarget where TAgent : struct, IAgent
{
    private readonly AgentRunner _runner;
    private readonly TAgent _agent;

    public AgentWaitTarget(AgentRunner runner, TAgent agent)
    {
        _runner = runner;
        _agent = agent;
    }

    public bool Arm() => _agent.Arm(1);

    public bool ArmCoalesced(int kickAhead) => _agent.Arm(kickAhead);

    public void Disarm() => _agent.Disarm();

    public void Block() => _runner.Sleep();

    public bool BlockFor(long timeoutNs) => _runner.Sleep(timeoutNs);

    public long NsUntilDeadline => long.MaxValue;

    public long NotificationsSent => _agent.NotificationsSent;
}

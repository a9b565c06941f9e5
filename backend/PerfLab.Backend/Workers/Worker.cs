using PerfLab.Backend.Stats;
using PerfLab.Vhost.Polling;

namespace PerfLab.Backend.Workers;

/// <summary>
/// One data-plane worker: a <see cref="PollingAgent"/> on its <see cref="AgentRunner"/>
/// thread, under one polling strategy. Devices hand it their queue pollers with
/// <see cref="Register"/> and take them back with <see cref="Unregister"/>; each call returns
/// once the worker runs the new set, and the other owners' pollers keep running throughout.
/// </summary>
public sealed class Worker : IDisposable
{
    private Worker(int id, PollingAgent agent, AgentRunner runner)
    {
        Id = id;
        Agent = agent;
        Runner = runner;
    }

    /// <summary>A worker for the strategy <paramref name="poll"/> describes, pinned to
    /// <paramref name="cpu"/> (-1: not pinned). Not started.</summary>
    public static Worker Create(int id, PollOptions poll, int cpu)
    {
        var agent = new PollingAgent(poll.EdgeTriggeredKicks);
        var handle = new PollingAgent.Handle(agent);
        string name = $"vhost-worker-{id}";
        string strategy = poll.Describe();
        AgentRunner runner = poll.Mode switch
        {
            PollMode.Busy => new AgentRunner<PollingAgent.Handle, BusyPoll>(handle, name, cpu, default, strategy),
            PollMode.Interrupt => new AgentRunner<PollingAgent.Handle, Interrupt>(handle, name, cpu, PollOptions.CreateInterrupt(), strategy),
            PollMode.Hybrid => new AgentRunner<PollingAgent.Handle, Hybrid>(handle, name, cpu, poll.CreateHybrid(), strategy),
            PollMode.Backoff => new AgentRunner<PollingAgent.Handle, Backoff>(handle, name, cpu, poll.CreateBackoff(), strategy),
            _ => throw new ArgumentOutOfRangeException(nameof(poll), poll.Mode, "unknown strategy"),
        };
        return new Worker(id, agent, runner);
    }

    public int Id { get; }

    public PollingAgent Agent { get; }

    public AgentRunner Runner { get; }

    public string StrategyName => Runner.StrategyName;

    public int Tid => Runner.Tid;

    public WorkerCounters Counters => Runner.Counters;

    /// <summary>Pollers (queue pairs) the worker is running now (tests and stats).</summary>
    public int ActivePairCount => Agent.ActivePollers;

    public void Start() => Runner.Start();

    /// <summary>Replaces what <paramref name="owner"/> has registered with
    /// <paramref name="pollers"/> and returns a ticket for <see cref="Complete"/>. Several
    /// workers can be asked first and waited for after, so their round boundaries overlap.</summary>
    public Pending Begin(object owner, IReadOnlyList<QueuePoller> pollers)
    {
        var added = new List<QueuePoller>(pollers.Count);
        Agent.Publish(owner, pollers, added);
        return new Pending(Runner.RequestRoundBoundary(), added);
    }

    /// <summary>Waits until the worker runs what <see cref="Begin"/> published, then lets the
    /// new pollers' kicks wake it.</summary>
    public void Complete(Pending p)
    {
        Runner.WaitRoundBoundary(p.Ticket);
        if (p.Added.Count > 0)
        {
            Agent.AfterAdopted(p.Added);
        }
    }

    public void Register(object owner, IReadOnlyList<QueuePoller> pollers) => Complete(Begin(owner, pollers));

    /// <summary>Takes back every poller of <paramref name="owner"/>; when it returns the worker
    /// no longer touches them (nor the owner's rings or memory).</summary>
    public void Unregister(object owner) => Complete(Begin(owner, []));

    /// <summary>One round on the calling thread (tests driving a worker without its thread).</summary>
    public int DoWork() => Agent.DoWork();

    /// <summary>The strategy's idle decision, once, on the calling thread (tests).</summary>
    internal void IdleOnce() => Runner.IdleOnce();

    /// <summary>Tells the strategy a round did work (tests driving rounds themselves).</summary>
    internal void WorkedOnce() => Runner.WorkedOnce();

    /// <summary>The strategy's decisions (null for busy polling).</summary>
    public PollStats? PollStats => Runner.PollStats;

    internal void DisarmAll() => Agent.Disarm();

    public readonly record struct Pending(long Ticket, List<QueuePoller> Added);

    public void Dispose()
    {
        Runner.Dispose();
        Agent.Dispose();
    }
}

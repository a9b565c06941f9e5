using System.ComponentModel;
using BenchmarkDotNet.Attributes;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench.Micro;

/// <summary>The cost of one notification: an eventfd write nobody is waiting on (the counter
/// only grows; it saturates after 2^64-2 writes).</summary>
[MemoryDiagnoser]
[BenchmarkCategory(Categories.Micro)]
public class EventFdBenchmarks
{
    private int _fd = -1;

    [GlobalSetup]
    public void Setup() => _fd = EventFd.Create();

    [Benchmark]
    [Description("one kick or call: an 8-byte write to a non-blocking eventfd (EventFd.Signal)")]
    public bool EventFdKick() => EventFd.Signal(_fd);

    [GlobalCleanup]
    public void Cleanup() => LibC.close(_fd);
}

/// <summary>
/// Each idle strategy's cost for one empty poll right after a round with work: what a
/// polling loop pays before it looks at the ring again. Busy: a pause; hybrid: a clock read
/// and a pause (inside its budget); backoff: a spin step; interrupt: arm (a full fence and a
/// re-check), a wait on the eventfds and disarm. The wait here is a zero-timeout epoll_wait:
/// a real one sleeps until a kick.
/// </summary>
[MemoryDiagnoser]
[BenchmarkCategory(Categories.Micro)]
public class IdleStrategyBenchmarks
{
    private const int Rounds = 16;

    // Mutable strategy structs: never readonly.
    private BusyPoll _busy;
    private Hybrid _hybrid;
    private Backoff _backoff;
    private Interrupt _interrupt;
    private ZeroWaitTarget _target;
    private EpollSet? _epoll;
    private int _fd = -1;

    [ParamsAllValues]
    public PollMode Strategy { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var o = new PollOptions();
        _hybrid = o.CreateHybrid();
        _backoff = o.CreateBackoff();
        _fd = EventFd.Create();
        _epoll = new EpollSet();
        _epoll.Add(_fd, 0);
        _target = new ZeroWaitTarget(_epoll);
    }

    [Benchmark(OperationsPerInvoke = Rounds)]
    [Description("one idle step after a round with work (interrupt: arm, zero-timeout wait, disarm)")]
    public void IdleCost()
    {
        switch (Strategy)
        {
            case PollMode.Busy: Run(ref _busy); break;
            case PollMode.Hybrid: Run(ref _hybrid); break;
            case PollMode.Backoff: Run(ref _backoff); break;
            default: Run(ref _interrupt); break;
        }
    }

    private void Run<TIdle>(ref TIdle idle) where TIdle : struct, IIdleStrategy
    {
        for (int i = 0; i < Rounds; i++)
        {
            idle.OnWork();
            idle.Idle(ref _target);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _epoll?.Dispose();
        LibC.close(_fd);
    }

    /// <summary>A wait target with the real costs of arming (a full fence) and waiting (an
    /// epoll_wait syscall), but never asleep: the wait has a zero timeout.</summary>
    private readonly struct ZeroWaitTarget : IWaitTarget
    {
        private readonly EpollSet _epoll;

        public ZeroWaitTarget(EpollSet epoll) => _epoll = epoll;

        public bool Arm()
        {
            Interlocked.MemoryBarrier();
            return false;
        }

        public void Disarm()
        {
        }

        public void Block()
        {
            Span<ulong> ready = stackalloc ulong[4];
            _epoll.Wait(ready, 0);
        }

        public bool ArmCoalesced(int kickAhead) => Arm();

        public bool BlockFor(long timeoutNs)
        {
            Block();
            return true;
        }

        public long NsUntilDeadline => long.MaxValue;

        public long NotificationsSent => 0;
    }
}

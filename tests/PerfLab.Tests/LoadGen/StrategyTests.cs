using PerfLab.Backend.Devices;
using PerfLab.Backend.Server;
using PerfLab.Backend.Workers;
using PerfLab.LoadGen;
using PerfLab.LoadGen.Guest;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Polling;
using Xunit;

namespace PerfLab.Tests.LoadGen;

/// <summary>Polling strategies on both sides: no missed wake-ups, no allocation.</summary>
public class StrategyTests
{
    public static TheoryData<PollMode> AllModes => new() { PollMode.Busy, PollMode.Interrupt, PollMode.Hybrid, PollMode.Backoff };

    private static PollOptions Poll(PollMode m) => new() { Mode = m, HybridBudgetUs = 5, BackoffMaxUs = 20 };

    /// <summary>
    /// Both sides use the interrupt strategy and sleep whenever they find nothing. Thousands of
    /// rounds of random bursts with random pauses on each side: a wake-up missed anywhere (kick
    /// or call) leaves both asleep and the test times out.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void InterruptOnBothSidesNeverMissesAWakeup(bool eventIdx)
    {
        using var dir = new TempDir();
        var o = new BackendOptions
        {
            SocketPath = dir.File("v.sock"),
            StatsInterval = 0,
            Device = new NetDeviceOptions { MaxQueuePairs = 1, Batch = 8, Poll = new PollOptions { Mode = PollMode.Interrupt } },
        };
        using var server = new VhostUserServer(o, startWorkers: false);
        var serverThread = new Thread(server.Run) { IsBackground = true };
        serverThread.Start();
        const int Rounds = 20_000;
        try
        {
            using var gen = new LoadGenerator(new LoadGenOptions
            {
                SocketPath = o.SocketPath,
                Burst = 1,
                QueueSize = 64,
                EventIdx = eventIdx,
                Poll = new PollOptions { Mode = PollMode.Interrupt },
                ConnectTimeoutS = 5,
            });
            gen.Setup();
            Worker worker = server.Device.Workers[0];
            Assert.IsType<AgentRunner<PollingAgent.Handle, Interrupt>>(worker.Runner);
            Assert.True(Timeouts.WaitUntil(() => worker.ActivePairCount == 1, Timeouts.Short));
            TrafficEngine e = gen.Engine!;
            e.Sending = false;
            var stop = new CancellationTokenSource();

            // The back-end: the worker's round, then the strategy's idle decision (arm, fence,
            // re-check, sleep in epoll). The random pause sits in the race window, between a
            // round that found nothing and the arming: a guest that publishes inside it sends
            // no kick, and only the re-check after arming can see its buffers.
            var backend = new Thread(() =>
            {
                var rng = new Random(1);
                while (!stop.IsCancellationRequested)
                {
                    if (worker.DoWork() == 0)
                    {
                        if (rng.Next(2) == 0)
                        {
                            NanoSleep.Sleep(rng.Next(40_000));
                        }
                        worker.IdleOnce();
                    }
                }
            }) { IsBackground = true, Name = "stress-backend" };
            backend.Start();

            // The guest: send a random burst, pause, then wait (sleeping on calls) until every
            // frame is back.
            Timeouts.Run(TimeSpan.FromSeconds(60), () =>
            {
                var rng = new Random(2);
                long target = 0;
                for (int round = 0; round < Rounds; round++)
                {
                    int k = rng.Next(1, 9);
                    Assert.Equal(k, e.SendNow(k));
                    target += k;
                    if (rng.Next(4) == 0)
                    {
                        NanoSleep.Sleep(rng.Next(30_000));
                    }
                    while (e.C.Received < target)
                    {
                        if (e.Step() == 0)
                        {
                            // The same race window on the guest side, before arming interrupts.
                            if (rng.Next(2) == 0)
                            {
                                NanoSleep.Sleep(rng.Next(40_000));
                            }
                            if (!e.ArmAll())
                            {
                                e.BlockOnCalls();
                            }
                            e.DisarmAll();
                        }
                    }
                }
            }, "guest side of the wake-up stress");
            stop.Cancel();
            EventFd.Signal(gen.Engine!.Pairs[0].KickTx); // wake the back-end so its thread ends
            backend.Join(Timeouts.Short);
            Assert.Equal(e.C.Sent, e.C.Received);
            Assert.Equal(0, e.C.SeqErrors);
            // Thousands of real sleeps on each side, each ended by the other side's notification.
            Assert.True(e.C.Sleeps > 1000, $"the guest slept only {e.C.Sleeps} times: not a wake-up test");
            Assert.True(worker.Counters.Sleeps > 1000, $"the back-end slept only {worker.Counters.Sleeps} times");
        }
        finally
        {
            server.Stop();
            serverThread.Join(Timeouts.Short);
        }
    }

    /// <summary>
    /// Every back-end strategy's loop and every guest strategy's loop allocates nothing, idle
    /// path included: both run on this thread, and each side's idle decision is taken when the
    /// other side has just produced work (so an arming strategy re-checks, finds it, and does
    /// not sleep).
    /// </summary>
    [Theory]
    [MemberData(nameof(AllModes))]
    public void EveryStrategysLoopAllocatesNothing(PollMode mode)
    {
        using var dir = new TempDir();
        var o = new BackendOptions
        {
            SocketPath = dir.File("v.sock"),
            StatsInterval = 0,
            Device = new NetDeviceOptions { MaxQueuePairs = 1, Poll = Poll(mode) },
        };
        using var server = new VhostUserServer(o, startWorkers: false);
        var serverThread = new Thread(server.Run) { IsBackground = true };
        serverThread.Start();
        try
        {
            using var gen = new LoadGenerator(new LoadGenOptions
            {
                SocketPath = o.SocketPath,
                Burst = 8,
                Poll = Poll(mode),
                CallFds = CallFdPolicy.Always,
                ConnectTimeoutS = 5,
            });
            gen.Setup();
            Worker worker = server.Device.Workers[0];
            Assert.True(Timeouts.WaitUntil(() => worker.ActivePairCount == 1, Timeouts.Short));
            TrafficEngine e = gen.Engine!;
            e.Measuring = true;

            void Iterate(int n)
            {
                for (int i = 0; i < n; i++)
                {
                    e.Step();          // guest sends
                    worker.IdleOnce(); // back-end idles with work pending: arm, re-check, no sleep
                    worker.DoWork();
                    e.IdleOnce();      // guest idles with used buffers pending
                }
            }

            for (int round = 0; round < 3; round++)
            {
                Iterate(20_000);
                Thread.Sleep(300);
            }
            long frames = e.C.Received;
            long before = GC.GetAllocatedBytesForCurrentThread();
            Iterate(50_000);
            long after = GC.GetAllocatedBytesForCurrentThread();
            Assert.True(e.C.Received - frames > 50_000);
            Assert.Equal(0L, after - before);
        }
        finally
        {
            server.Stop();
            serverThread.Join(Timeouts.Short);
        }
    }
}

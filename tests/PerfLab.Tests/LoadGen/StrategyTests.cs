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

/// <summary>Polling strategies on both sides, split and packed rings: no missed wake-ups, no
/// allocation.</summary>
public class StrategyTests
{
    public static TheoryData<PollMode> AllModes => new() { PollMode.Busy, PollMode.Interrupt, PollMode.Hybrid, PollMode.Backoff };

    private static PollOptions Poll(PollMode m) => new() { Mode = m, HybridBudgetUs = 5, HybridMaxUs = 20, BackoffMaxUs = 20 };

    /// <summary>
    /// Each strategy on one side against interrupt on the other (never two spinners), both ring
    /// layouts, with and without EVENT_IDX for interrupt on both sides. Hybrid on both sides is
    /// in too: its budget is capped at 20 µs here and every round sleeps a random while on each
    /// side, so neither spins for long.
    /// </summary>
    public static TheoryData<PollMode, PollMode, bool, bool, int, int, double, bool> WakeupCases()
    {
        var d = new TheoryData<PollMode, PollMode, bool, bool, int, int, double, bool>();
        foreach (bool packed in new[] { false, true })
        {
            d.Add(PollMode.Interrupt, PollMode.Interrupt, packed, true, 0, 0, 0, false);
            d.Add(PollMode.Interrupt, PollMode.Interrupt, packed, false, 0, 0, 0, false);
            foreach (PollMode m in new[] { PollMode.Busy, PollMode.Hybrid, PollMode.Backoff })
            {
                d.Add(m, PollMode.Interrupt, packed, true, 0, 0, 0, false);
                d.Add(PollMode.Interrupt, m, packed, true, 0, 0, 0, false);
            }
            d.Add(PollMode.Hybrid, PollMode.Hybrid, packed, true, 0, 0, 0, false);
            // Naps before arming: notifications stay off through them, then the usual arming.
            d.Add(PollMode.Hybrid, PollMode.Interrupt, packed, true, 2, 0, 0, false);
            // A kick per 4 buffers while frames flow, with the guest's bursts of 1-8: many
            // batches never fill, and only the timeout (50 µs) wakes the back-end for them.
            d.Add(PollMode.Hybrid, PollMode.Interrupt, packed, true, 0, 4, 0, false);
            d.Add(PollMode.Hybrid, PollMode.Interrupt, packed, false, 0, 4, 0, false);
            d.Add(PollMode.Hybrid, PollMode.Hybrid, packed, true, 0, 4, 0, false);
            // The batch following the rate (a 20 µs fill target, up to 16): it grows and shrinks
            // with the bursts and falls to one buffer in the pauses.
            d.Add(PollMode.Hybrid, PollMode.Interrupt, packed, true, 0, 16, 20, false);
            d.Add(PollMode.Hybrid, PollMode.Hybrid, packed, true, 0, 16, 20, false);
            // Kick fds edge-triggered, never read: every write after the last report wakes the
            // worker once.
            d.Add(PollMode.Interrupt, PollMode.Interrupt, packed, true, 0, 0, 0, true);
            d.Add(PollMode.Interrupt, PollMode.Interrupt, packed, false, 0, 0, 0, true);
            d.Add(PollMode.Hybrid, PollMode.Hybrid, packed, true, 0, 16, 20, true);
        }
        return d;
    }

    /// <summary>
    /// Thousands of rounds of random bursts with random pauses on each side, each side idling
    /// with its strategy: a wake-up missed anywhere (kick or call) leaves both asleep and the
    /// test times out. On an interrupt side the random pause sits in the race window, between a
    /// round that found nothing and the arming: a peer that publishes inside it sends no
    /// notification, and only the re-check after arming can see its buffers.
    /// </summary>
    [Theory]
    [MemberData(nameof(WakeupCases))]
    public void NoStrategyEverMissesAWakeup(PollMode backendPoll, PollMode guestPoll, bool packed, bool eventIdx, int naps, int kickBatch, double fillUs, bool edgeKicks)
    {
        using var dir = new TempDir();
        var o = new BackendOptions
        {
            SocketPath = dir.File("v.sock"),
            StatsInterval = 0,
            Device = new NetDeviceOptions { MaxQueuePairs = 1, Batch = 8, Poll = Poll(backendPoll) with
            {
                HybridNaps = naps,
                HybridNapUs = 5,
                HybridKickBatch = kickBatch,
                HybridKickTimeoutUs = 50,
                HybridKickFillUs = fillUs,
                EdgeTriggeredKicks = edgeKicks,
            } },
        };
        using var server = new VhostUserServer(o, startWorkers: false);
        var serverThread = new Thread(server.Run) { IsBackground = true };
        serverThread.Start();
        bool bothInterrupt = backendPoll == PollMode.Interrupt && guestPoll == PollMode.Interrupt;
        int rounds = bothInterrupt ? 20_000 : 4_000;
        try
        {
            using var gen = new LoadGenerator(new LoadGenOptions
            {
                SocketPath = o.SocketPath,
                Burst = 1,
                QueueSize = 64,
                EventIdx = eventIdx,
                Packed = packed,
                Poll = Poll(guestPoll),
                CallFds = CallFdPolicy.Always,
                ConnectTimeoutS = 5,
            });
            gen.Setup();
            Worker worker = server.Device.Workers[0];
            Type expected = backendPoll switch
            {
                PollMode.Busy => typeof(AgentRunner<PollingAgent.Handle, BusyPoll>),
                PollMode.Interrupt => typeof(AgentRunner<PollingAgent.Handle, Interrupt>),
                PollMode.Hybrid => typeof(AgentRunner<PollingAgent.Handle, Hybrid>),
                _ => typeof(AgentRunner<PollingAgent.Handle, Backoff>),
            };
            Assert.IsType(expected, worker.Runner);
            Assert.True(Timeouts.WaitUntil(() => worker.ActivePairCount == 1, Timeouts.Short));
            TrafficEngine e = gen.Engine!;
            e.Sending = false;
            var stop = new CancellationTokenSource();

            // The back-end: the worker's round, then the strategy's idle decision.
            var backend = new Thread(() =>
            {
                var rng = new Random(1);
                while (!stop.IsCancellationRequested)
                {
                    if (worker.DoWork() > 0)
                    {
                        worker.WorkedOnce();
                        continue;
                    }
                    if (rng.Next(2) == 0)
                    {
                        NanoSleep.Sleep(rng.Next(40_000));
                    }
                    worker.IdleOnce();
                }
            }) { IsBackground = true, Name = "stress-backend" };
            backend.Start();

            // The guest: send a random burst, pause, then wait until every frame is back.
            Timeouts.Run(TimeSpan.FromSeconds(60), () =>
            {
                var rng = new Random(2);
                long target = 0;
                for (int round = 0; round < rounds; round++)
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
                        if (e.Step() > 0)
                        {
                            e.WorkedOnce();
                            continue;
                        }
                        if (rng.Next(2) == 0)
                        {
                            NanoSleep.Sleep(rng.Next(40_000));
                        }
                        if (guestPoll != PollMode.Interrupt)
                        {
                            e.IdleOnce();
                            continue;
                        }
                        if (!e.ArmAll())
                        {
                            e.BlockOnCalls();
                        }
                        e.DisarmAll();
                    }
                }
            }, "guest side of the wake-up stress");
            stop.Cancel();
            EventFd.Signal(gen.Engine!.Pairs[0].KickTx); // wake the back-end so its thread ends
            Assert.True(backend.Join(Timeouts.Short), "the back-end's thread did not end");
            Assert.Equal(e.C.Sent, e.C.Received);
            Assert.Equal(0, e.C.SeqErrors);
            // Real sleeps on each side that sleeps on notifications, each ended by the other
            // side's notification.
            if (guestPoll == PollMode.Interrupt)
            {
                Assert.True(e.C.Sleeps > rounds / 20, $"the guest slept only {e.C.Sleeps} times: not a wake-up test");
            }
            if (backendPoll == PollMode.Interrupt)
            {
                Assert.True(worker.Counters.Sleeps > rounds / 20, $"the back-end slept only {worker.Counters.Sleeps} times");
            }
            if (kickBatch > 1)
            {
                PollStats ps = worker.Runner.PollStats!;
                Assert.True(ps.CoalescedSleeps > 0 && ps.KickTimeouts > 0,
                    $"the back-end coalesced {ps.CoalescedSleeps} sleeps, {ps.KickTimeouts} timed out: the batch's paths were not exercised");
            }
        }
        finally
        {
            server.Stop();
            serverThread.Join(Timeouts.Short);
        }
    }

    /// <summary>
    /// The kick batch's own path allocates nothing on the worker's thread: frames flowed, so the
    /// hybrid back-end (a zero budget: it arms at once) arms a batch ahead and sleeps until its
    /// timeout, because the guest sends nothing meanwhile; the next round finds the guest's
    /// frames (the timeout found work), and so on.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ACoalescedSleepAndItsTimeoutAllocateNothing(bool packed)
    {
        PollOptions poll = Poll(PollMode.Hybrid) with { HybridBudgetUs = 0, HybridAdaptive = false, HybridKickBatch = 64, HybridKickTimeoutUs = 20 };
        var guest = new LoadGenOptions
        {
            Burst = 8,
            MaxInFlight = 8, // fewer than the batch: only the timeout ends a sleep
            Packed = packed,
            Poll = new PollOptions { Mode = PollMode.Busy },
        };
        WithBackendAndGuest(poll, guest, (worker, e) =>
        {
            void Iterate(int n)
            {
                for (int i = 0; i < n; i++)
                {
                    e.Step();              // guest sends (and takes back what returned)
                    while (worker.DoWork() > 0)
                    {
                        worker.WorkedOnce();
                    }
                    worker.IdleOnce();     // nothing pending: arm 64 ahead, sleep until the timeout
                }
            }

            Iterate(2_000);
            PollStats ps = worker.Runner.PollStats!;
            long timeouts = ps.KickTimeouts;
            long before = GC.GetAllocatedBytesForCurrentThread();
            Iterate(2_000);
            long after = GC.GetAllocatedBytesForCurrentThread();
            Assert.Equal(0L, after - before);
            Assert.True(ps.KickTimeouts - timeouts > 1_000, $"{ps.KickTimeouts - timeouts} timeouts: the coalesced sleep was not exercised");
            Assert.True(ps.KickTimeoutsFoundWork > 1_000);
        });
    }

    /// <summary>
    /// The guest's timed sleep (its hybrid coalescing calls a batch ahead, with a timeout) ends
    /// at the timeout when no call comes, and says so (a kick timeout in its decisions); a call
    /// pending ends it at once. It used to sleep until a call or the loop's own deadline, which
    /// here is none: a test without the timeout would hang. The timed path allocates nothing.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheGuestsTimedSleepEndsAtItsTimeout(bool packed)
    {
        const int TimeoutUs = 2_000;
        var guest = new LoadGenOptions
        {
            Burst = 8,
            MaxInFlight = 8,
            Packed = packed,
            CallFds = CallFdPolicy.Always,
            Poll = Poll(PollMode.Hybrid) with { HybridBudgetUs = 0, HybridAdaptive = false, HybridKickBatch = 64, HybridKickTimeoutUs = TimeoutUs },
        };
        WithBackendAndGuest(new PollOptions { Mode = PollMode.Interrupt }, guest, (worker, e) =>
        {
            e.Sending = false;
            PollStats ps = e.PollStats!;

            // One exchange, so that the guest's frames flow (its next sleep is a timed one).
            void Exchange()
            {
                long target = e.C.Received + 8;
                if (e.SendNow(8) != 8)
                {
                    Assert.Fail("the guest could not send a burst");
                }
                while (worker.DoWork() > 0)
                {
                    worker.WorkedOnce();
                }
                while (e.C.Received < target)
                {
                    if (e.Step() > 0)
                    {
                        e.WorkedOnce();
                    }
                }
            }
            // Idle steps until a sleep ended by the timeout (a call may end one before).
            long IdleUntilATimeout()
            {
                long timeouts = ps.KickTimeouts, t0 = Clock.Now();
                while (ps.KickTimeouts == timeouts)
                {
                    e.IdleOnce();
                }
                return (long)Clock.TicksToNs(Clock.Now() - t0);
            }

            Timeouts.Run(Timeouts.Short, () =>
            {
                Exchange();
                long ns = IdleUntilATimeout();
                Assert.True(ns >= TimeoutUs * 1000 * 9 / 10, $"a timed sleep of {ns} ns: the timeout is {TimeoutUs} µs");

                // A call pending: the sleep ends at once, notified (no timeout counted).
                Exchange();
                long timeouts = ps.KickTimeouts, calls = e.C.CallsReceived, sleeps = e.C.Sleeps;
                EventFd.Signal(e.Pairs[0].CallRx);
                while (e.C.Sleeps == sleeps)
                {
                    e.IdleOnce();
                }
                Assert.Equal(timeouts, ps.KickTimeouts);
                Assert.True(e.C.CallsReceived > calls);

                // The timed path again, measured: no allocation.
                for (int i = 0; i < 3; i++)
                {
                    Exchange();
                    IdleUntilATimeout();
                }
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 20; i++)
                {
                    Exchange();
                    IdleUntilATimeout();
                }
                Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before);
            }, "the guest's timed sleeps");
        });
    }

    /// <summary>A back-end serving one pair with <paramref name="poll"/>, its worker driven by
    /// the test (no thread), and a load generator set up against it with
    /// <paramref name="guest"/> (socket and connect timeout filled in).</summary>
    private static void WithBackendAndGuest(PollOptions poll, LoadGenOptions guest, Action<Worker, TrafficEngine> body)
    {
        using var dir = new TempDir();
        var o = new BackendOptions
        {
            SocketPath = dir.File("v.sock"),
            StatsInterval = 0,
            Device = new NetDeviceOptions { MaxQueuePairs = 1, Poll = poll },
        };
        using var server = new VhostUserServer(o, startWorkers: false);
        var serverThread = new Thread(server.Run) { IsBackground = true };
        serverThread.Start();
        try
        {
            using var gen = new LoadGenerator(guest with { SocketPath = o.SocketPath, ConnectTimeoutS = 5 });
            gen.Setup();
            Worker worker = server.Device.Workers[0];
            Assert.True(Timeouts.WaitUntil(() => worker.ActivePairCount == 1, Timeouts.Short));
            TrafficEngine e = gen.Engine!;
            e.Measuring = true;
            body(worker, e);
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
    public static TheoryData<PollMode, bool, bool> AllocationCases()
    {
        var d = new TheoryData<PollMode, bool, bool>();
        foreach (bool packed in new[] { false, true })
        {
            foreach (PollMode m in new[] { PollMode.Busy, PollMode.Interrupt, PollMode.Hybrid, PollMode.Backoff })
            {
                d.Add(m, packed, false);
            }
            d.Add(PollMode.Hybrid, packed, true);
        }
        return d;
    }

    /// <param name="zeroBudget">hybrid with a fixed zero budget: every idle step arms and
    /// re-checks (the sleep path short of the sleep); otherwise it polls its budget.</param>
    [Theory]
    [MemberData(nameof(AllocationCases))]
    public void EveryStrategysLoopAllocatesNothing(PollMode mode, bool packed, bool zeroBudget)
    {
        PollOptions poll = zeroBudget ? Poll(mode) with { HybridBudgetUs = 0, HybridAdaptive = false } : Poll(mode);
        var guest = new LoadGenOptions { Burst = 8, Packed = packed, Poll = poll, CallFds = CallFdPolicy.Always };
        WithBackendAndGuest(poll, guest, (worker, e) =>
        {
            void Iterate(int n)
            {
                for (int i = 0; i < n; i++)
                {
                    e.Step();          // guest sends
                    e.WorkedOnce();
                    worker.IdleOnce(); // back-end idles with work pending: arm, re-check, no sleep
                    worker.DoWork();
                    worker.WorkedOnce();
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
        });
    }
}

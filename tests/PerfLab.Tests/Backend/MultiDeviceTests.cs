using System.Runtime.InteropServices;
using PerfLab.Backend.Devices;
using PerfLab.Backend.Server;
using PerfLab.Backend.Stats;
using PerfLab.Backend.Workers;
using PerfLab.LoadGen;
using PerfLab.LoadGen.Frontend;
using PerfLab.LoadGen.Guest;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;
using Xunit;

namespace PerfLab.Tests.Backend;

/// <summary>
/// Many devices, one back-end: one socket file per device, each with its own session, memory,
/// rings and counters, their queues polled by shared workers. No front-end can stall another
/// device's handshake or traffic, and no device's reconfiguration pauses another's queues.
/// </summary>
public class MultiDeviceTests
{
    private static InProcessBackend Backend(int devices, int workers = 1, Func<BackendOptions, BackendOptions>? configure = null) =>
        new(new NetDeviceOptions { MaxQueuePairs = 1, Poll = new PollOptions { Mode = PollMode.Interrupt } },
            o => (configure ?? (x => x))(o with
            {
                SocketPaths = Enumerable.Range(0, devices).Select(d => BackendOptions.SocketInFolder(Path.GetDirectoryName(o.SocketPath)!, d)).ToArray(),
                Workers = workers,
            }));

    [Fact]
    public void TwoFrontendsOnTwoSocketsMoveTrafficAtOnceWithTheirStatisticsApart()
    {
        using var be = Backend(2);
        Timeouts.Run(Timeouts.Process, () =>
        {
            var results = new LoadGenResult?[2];
            var errors = new Exception?[2];
            var threads = Enumerable.Range(0, 2).Select(d => new Thread(() =>
            {
                try
                {
                    using var gen = new LoadGenerator(Traffic.Quick(be.Options.SocketPaths[d]) with { DurationS = 0.5 });
                    gen.Setup();
                    results[d] = gen.Run();
                }
                catch (Exception e)
                {
                    errors[d] = e;
                }
            }) { IsBackground = true }).ToArray();
            foreach (Thread t in threads)
            {
                t.Start();
            }
            foreach (Thread t in threads)
            {
                Assert.True(t.Join(Timeouts.Process), "a front-end did not finish");
            }
            BackendStats s = be.Server.Stats.Snapshot();
            for (int d = 0; d < 2; d++)
            {
                Assert.True(errors[d] == null, $"front-end {d}: {errors[d]}");
                Traffic.AssertIntact(results[d]!);
                DeviceStats dev = s.Devices[d];
                // Each device counted its own front-end's frames (warm-up included), no more.
                Assert.True(dev.Packets >= results[d]!.Received, $"device {d} counted {dev.Packets} frames, its front-end got {results[d]!.Received} back");
                Assert.Equal(dev.Packets, s.Queues.Where(q => q.Device == d && q.Direction == "tx").Sum(q => q.Packets));
                Assert.Equal(be.Options.SocketPaths[d], dev.Socket);
            }
            Assert.Equal(s.Packets, s.Devices.Sum(x => x.Packets));
            Assert.Single(s.Workers);
            Assert.Equal([new WorkerQueue(0, 0), new WorkerQueue(1, 0)], s.Workers[0].Queues);
        }, "two front-ends at once");
        Assert.True(Timeouts.WaitUntil(() => be.Server.SessionsServed == 2, Timeouts.Short));
    }

    /// <summary>A front-end on socket A that never reads its replies, then one that stops in the
    /// middle of a message: meanwhile a good front-end on socket B completes its handshake and
    /// moves traffic within 2 s each time, and each of A's sessions is ended by its timeout.</summary>
    [Fact]
    public void StalledFrontendsOnOneSocketDelayNoOtherDevice()
    {
        using var be = Backend(2, configure: o => o with
        {
            ReplyTimeout = TimeSpan.FromMilliseconds(500),
            MidMessageTimeout = TimeSpan.FromMilliseconds(500),
        });
        string a = be.Options.SocketPaths[0], b = be.Options.SocketPaths[1];

        // Never reads: requests that each get a reply, until our own send blocks.
        int never = UnixSocket.Connect(a, Timeouts.Short, TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(50));
        var flood = new Thread(() =>
        {
            using var ch = new MessageChannel(never) { SendTimeoutMs = 3000 };
            try
            {
                for (int i = 0; i < 1_000_000; i++)
                {
                    ch.SendRaw(VhostUserRequest.GetFeatures, VhostUserFlags.Version1, []);
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // the back-end gave up on us and closed, or our own send timed out
            }
        }) { IsBackground = true };
        flood.Start();
        Assert.True(Timeouts.WaitUntil(() => be.Server.Devices[0]!.CurrentSession != null, Timeouts.Short));
        GoodFrontendWithin2s(b);
        Assert.True(Timeouts.WaitUntil(() => be.Server.Devices[0]!.SessionsServed == 1, Timeouts.Short), "A's session that never read was not ended");
        Assert.True(flood.Join(Timeouts.Short));

        // Stops mid-message: a header announcing a payload that never comes.
        int stall = UnixSocket.Connect(a, Timeouts.Short, TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(50));
        using (var ch = new MessageChannel(stall))
        {
            var message = new byte[VhostUserHeader.Size + 8];
            MessageCodec.Write(message, VhostUserRequest.SetFeatures, VhostUserFlags.Version1, new byte[8]);
            ch.Send(message.AsSpan(0, VhostUserHeader.Size)); // the header, none of its 8-byte payload
            GoodFrontendWithin2s(b);
            Assert.True(Timeouts.WaitUntil(() => be.Server.Devices[0]!.SessionsServed == 2, Timeouts.Short), "A's stalled session was not ended");
        }
        Assert.Equal(2, be.Server.Devices[1]!.SessionsServed);
    }

    private static void GoodFrontendWithin2s(string socket) =>
        Timeouts.Run(TimeSpan.FromSeconds(2), () =>
        {
            using var gen = new LoadGenerator(Traffic.Quick(socket) with { DurationS = 0.2 });
            gen.Setup();
            Traffic.AssertIntact(gen.Run());
        }, "a good front-end on another socket");

    /// <summary>Device A reconnects and changes its memory table over and over while device B's
    /// traffic flows on the same worker: B loses nothing, is never paused, and the worker (which
    /// keeps running) allocates nothing as A's queues come and go.</summary>
    [Fact]
    public void ReconnectsAndMemoryChangesOnOneDeviceNeitherPauseNorDisturbAnother()
    {
        using var be = Backend(2);
        Worker worker = be.Server.Workers[0];
        Timeouts.Run(Timeouts.Process, () =>
        {
            using var genB = new LoadGenerator(Traffic.Quick(be.Options.SocketPaths[1]) with { DurationS = 3 });
            genB.Setup();
            long pausesB = be.Server.Devices[1]!.Device.Pauses;
            LoadGenResult? rB = null;
            Exception? errorB = null;
            var runB = new Thread(() =>
            {
                try
                {
                    rB = genB.Run();
                }
                catch (Exception e)
                {
                    errorB = e;
                }
            }) { IsBackground = true };
            runB.Start();
            int cycles = 0;
            long allocatedAfterWarmup = -1;
            Exception? errorA = null;
            try
            {
                while (runB.IsAlive)
                {
                    if (cycles == 1)
                    {
                        // Warmed up: A came and went once. From now on its queues come and go on a
                        // worker that keeps running B's, and must cost that worker nothing.
                        allocatedAfterWarmup = WorkerAllocated(worker);
                    }
                    // A: connect, handshake, traffic with memory-table changes every 20 ms, disconnect.
                    using var genA = new LoadGenerator(Traffic.Quick(be.Options.SocketPaths[0]) with { DurationS = 0.1, WarmupS = 0.01, RemapIntervalMs = 20 });
                    genA.Setup();
                    Traffic.AssertIntact(genA.Run());
                    cycles++;
                }
            }
            catch (Exception e)
            {
                errorA = e; // B's front-end still uses its memory: wait for it before failing
            }
            Assert.True(runB.Join(Timeouts.Process));
            Assert.True(errorA == null, $"device A, cycle {cycles}: {errorA}");
            Assert.True(errorB == null, $"device B's front-end: {errorB}");
            Traffic.AssertIntact(rB!);
            Assert.True(cycles >= 3, $"only {cycles} reconnect cycles on A");
            Assert.True(be.Server.Devices[0]!.Device.Pauses > 4 * cycles, "A was not reconfigured");
            Assert.Equal(pausesB, be.Server.Devices[1]!.Device.Pauses);
            Assert.Equal(allocatedAfterWarmup, WorkerAllocated(worker));
        }, "one device churning beside another");
    }

    /// <summary>What the worker's thread had allocated by the time of this call: the worker
    /// publishes its count as it goes to sleep, and at most 10 ms apart while it polls, so a
    /// sleep or a whole round that begins 20 ms from now comes after a publication that
    /// followed this call; a worker asleep now published its count before and has not run since.</summary>
    private static long WorkerAllocated(Worker worker)
    {
        Thread.Sleep(20);
        long sleeps = worker.Counters.Sleeps, rounds = worker.Counters.Rounds;
        WorkerCounters c = worker.Counters;
        Assert.True(Timeouts.WaitUntil(() => c.Sleeps > sleeps || c.Rounds > rounds + 1 || c.Sleeps > c.Wakeups, Timeouts.Short),
            "the worker neither slept nor polled");
        return worker.Counters.AllocatedBytes;
    }

    public static TheoryData<PollMode> AllModes => new() { PollMode.Busy, PollMode.Interrupt, PollMode.Hybrid, PollMode.Backoff };

    /// <summary>Eight devices on one worker: the worker's round and every idle strategy's
    /// decision over all their queues allocate nothing (on this thread, which drives the worker
    /// and all eight guests).</summary>
    [Theory]
    [MemberData(nameof(AllModes))]
    public void EightDevicesOnOneWorkerAllocateNothing(PollMode mode)
    {
        const int Devices = 8;
        using var dir = new TempDir();
        var poll = new PollOptions { Mode = mode, HybridBudgetUs = 5, BackoffMaxUs = 20 };
        var o = new BackendOptions
        {
            SocketPaths = Enumerable.Range(0, Devices).Select(d => dir.File($"v{d}.sock")).ToArray(),
            StatsInterval = 0,
            Workers = 1,
            Device = new NetDeviceOptions { MaxQueuePairs = 1, Poll = poll },
        };
        using var server = new VhostUserServer(o, startWorkers: false);
        var serverThread = new Thread(server.Run) { IsBackground = true };
        serverThread.Start();
        var gens = new List<LoadGenerator>();
        try
        {
            foreach (string socket in o.SocketPaths)
            {
                var gen = new LoadGenerator(new LoadGenOptions
                {
                    SocketPath = socket,
                    Burst = 8,
                    Poll = poll,
                    CallFds = CallFdPolicy.Always,
                    ConnectTimeoutS = 5,
                });
                gens.Add(gen);
                gen.Setup();
            }
            Worker worker = server.Workers[0];
            Assert.True(Timeouts.WaitUntil(() => worker.ActivePairCount == Devices, Timeouts.Short));
            TrafficEngine[] engines = gens.Select(g => g.Engine!).ToArray();
            foreach (TrafficEngine e in engines)
            {
                e.Measuring = true;
            }

            void Iterate(int n)
            {
                for (int i = 0; i < n; i++)
                {
                    foreach (TrafficEngine e in engines)
                    {
                        e.Step();      // every guest sends
                    }
                    worker.IdleOnce(); // the back-end idles with work pending: arm, re-check, no sleep
                    worker.DoWork();   // one round over all eight devices' queues
                    foreach (TrafficEngine e in engines)
                    {
                        e.IdleOnce();  // every guest idles with used buffers pending
                    }
                }
            }

            for (int round = 0; round < 3; round++)
            {
                Iterate(2_000);
                Thread.Sleep(300);
            }
            long[] frames = engines.Select(e => e.C.Received).ToArray();
            long before = GC.GetAllocatedBytesForCurrentThread();
            Iterate(4_000);
            long after = GC.GetAllocatedBytesForCurrentThread();
            for (int d = 0; d < Devices; d++)
            {
                Assert.True(engines[d].C.Received - frames[d] > 4_000, $"device {d} moved only {engines[d].C.Received - frames[d]} frames");
                Assert.Equal(0, engines[d].C.SeqErrors);
            }
            Assert.Equal(0L, after - before);
        }
        finally
        {
            foreach (LoadGenerator g in gens)
            {
                g.Dispose();
            }
            server.Stop();
            serverThread.Join(Timeouts.Short);
        }
    }

    [Fact]
    public void ASocketInUseIsReportedAndTheOtherDevicesAreServed()
    {
        using var first = Backend(1);
        string taken = first.SocketPath;
        using var dir = new TempDir();
        var o = new BackendOptions
        {
            SocketPaths = [dir.File("free.sock"), taken],
            StatsInterval = 0,
            Device = new NetDeviceOptions { MaxQueuePairs = 1, Poll = new PollOptions { Mode = PollMode.Interrupt } },
        };
        using var server = new VhostUserServer(o);
        Assert.NotNull(server.Devices[0]);
        Assert.Null(server.Devices[1]);
        Assert.Contains("in use", server.ErrorOf(1), StringComparison.Ordinal);
        BackendStats s = server.Stats.Snapshot();
        Assert.Equal(server.ErrorOf(1), s.Devices[1].Error);
        var run = new Thread(server.Run) { IsBackground = true };
        run.Start();
        Timeouts.Run(Timeouts.Process, () =>
        {
            using var gen = new LoadGenerator(Traffic.Quick(o.SocketPaths[0]));
            gen.Setup();
            Traffic.AssertIntact(gen.Run());
        }, "the free device");
        server.Stop();
        Assert.True(run.Join(Timeouts.Short));
        // The other daemon's socket is untouched.
        Assert.True(UnixSocket.CanConnect(taken));
    }

    [Fact]
    public void QueuesAreDealtRoundRobinPairZeroOfEveryDeviceFirstAndAffinityPins()
    {
        var rr = new QueueAssignment(devices: 3, workers: 2, block: 1);
        Assert.Equal([0, 1, 0], Enumerable.Range(0, 3).Select(d => rr.WorkerOf(d, 0)));
        Assert.Equal([1, 0, 1], Enumerable.Range(0, 3).Select(d => rr.WorkerOf(d, 1)));
        var one = new QueueAssignment(devices: 1, workers: 4, block: 2);
        Assert.Equal([0, 0, 1, 1, 2, 2, 3, 3], Enumerable.Range(0, 8).Select(p => one.WorkerOf(0, p)));
        var pinned = new QueueAssignment(3, 2, 1, new Dictionary<(int, int), int> { [(2, 0)] = 1 });
        Assert.Equal(1, pinned.WorkerOf(2, 0));
        Assert.Throws<ArgumentException>(() => new QueueAssignment(3, 2, 1, new Dictionary<(int, int), int> { [(0, 0)] = 2 }));
    }
}

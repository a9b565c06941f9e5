using PerfLab.Backend.Devices;
using PerfLab.Backend.Workers;
using PerfLab.LoadGen;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Polling;
using Xunit;

namespace PerfLab.Tests.Integration;

/// <summary>
/// Zero allocation on the workers' real loop (<c>AgentRunner.Loop</c> on its own thread, not
/// <c>DoWork</c> steps on the test thread: the strategy's idle decisions, sleeps, wake-ups and
/// round-boundary adoptions included), for every path: both ring layouts, the four strategies,
/// loopback, sink and copy, one and two pairs per worker. A first session warms everything up
/// (tier-1 code, the pollers' generic instances); the worker's allocation counter, published
/// at every sleep and every 10 ms of work, must then not move over a whole second session:
/// handshake, start, traffic, stop. The load generator sleeps (interrupt), so at most one
/// thread busy-polls. DoWork under each strategy is covered by StrategyTests.
/// </summary>
[Collection("processes")]
public sealed class LoopAllocationTests
{
    public static TheoryData<bool, PollMode, NetMode, int> Paths()
    {
        var d = new TheoryData<bool, PollMode, NetMode, int>();
        foreach (bool packed in new[] { false, true })
        {
            foreach (PollMode poll in Enum.GetValues<PollMode>())
            {
                foreach (NetMode mode in new[] { NetMode.Loopback, NetMode.Sink, NetMode.Copy })
                {
                    foreach (int pairs in new[] { 1, 2 })
                    {
                        d.Add(packed, poll, mode, pairs);
                    }
                }
            }
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void TheWorkerLoopAllocatesNothing(bool packed, PollMode poll, NetMode mode, int pairs)
    {
        using var be = new InProcessBackend(new NetDeviceOptions
        {
            MaxQueuePairs = pairs,
            PairsPerWorker = pairs, // both pairs on one worker
            Mode = mode,
            Poll = new PollOptions { Mode = poll, HybridBudgetUs = 20 },
        });
        Worker worker = be.Server.Device.Workers[0];
        LoadGenOptions o = Traffic.Quick(be.SocketPath) with
        {
            Packed = packed,
            Queues = pairs,
            TxOnly = mode != NetMode.Loopback,
            Verify = false,
            DurationS = 0.2,
            WarmupS = 0.05,
        };

        Session(be, o);                      // warm-up
        long before = Published(worker);
        LoadGenResult r = Session(be, o);    // measured: the whole session
        long after = Published(worker);

        Assert.True(r.Sent > 1000, $"only {r.Sent} frames sent");
        Assert.Equal(0, r.TrafficThreadAllocatedBytes); // the load generator's side of the same session
        Assert.True(worker.Runner.IsRunning, "the worker stopped");
        Assert.True(after - before == 0, $"the worker's loop allocated {after - before} B over a session ({(packed ? "packed" : "split")}, {poll}, {mode}, {pairs} pair(s))");
    }

    private static LoadGenResult Session(InProcessBackend be, LoadGenOptions o)
    {
        int served = be.Server.SessionsServed;
        LoadGenResult r = null!;
        Timeouts.Run(Timeouts.Process, () =>
        {
            using var gen = new LoadGenerator(o);
            gen.Setup();
            r = gen.Run();
        }, "session");
        Assert.True(Timeouts.WaitUntil(() => be.Server.SessionsServed > served && be.Server.CurrentSession == null, Timeouts.Short), "the session did not end");
        return r;
    }

    /// <summary>The worker's allocation count once it has published it after the session (it
    /// does at every sleep, and every 10 ms while it works or spins).</summary>
    private static long Published(Worker w)
    {
        w.Runner.RequestRoundBoundary(); // wakes a sleeping worker: it publishes as it sleeps again
        Thread.Sleep(50);
        return w.Counters.AllocatedBytes;
    }
}

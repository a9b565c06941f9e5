using PerfLab.Backend.Devices;
using PerfLab.Backend.Server;
using PerfLab.LoadGen;
using PerfLab.LoadGen.Trials;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Polling;
using Xunit;

namespace PerfLab.Tests.LoadGen;

/// <summary>
/// Busy-polling guests of many devices on ONE thread (the density measurement's guest side):
/// <see cref="DeviceSetTrialRunner"/> steps every device's engine in turn. Against one
/// in-process back-end serving every device on one worker under the interrupt strategy, so
/// that the guests' thread is the only busy poller.
/// </summary>
public class SharedBusyThreadTests
{
    private static InProcessBackend Backend(int devices, bool dropWhenFull) =>
        new(new NetDeviceOptions { MaxQueuePairs = 1, Backpressure = !dropWhenFull, Poll = new PollOptions { Mode = PollMode.Interrupt } },
            o => o with
            {
                SocketPaths = Enumerable.Range(0, devices).Select(d => BackendOptions.SocketInFolder(Path.GetDirectoryName(o.SocketPath)!, d)).ToArray(),
                Workers = 1,
            });

    /// <summary>Sets up one busy guest per device of <paramref name="be"/>, runs
    /// <paramref name="body"/> within a time limit, and disposes of the guests.</summary>
    private static void WithGuests(InProcessBackend be, bool lossy, Action<List<LoadGenerator>> body, string what, PollMode guest = PollMode.Busy)
    {
        var gens = new List<LoadGenerator>();
        try
        {
            Timeouts.Run(Timeouts.Process, () =>
            {
                foreach (string socket in be.Options.SocketPaths)
                {
                    var g = new LoadGenerator(new LoadGenOptions
                    {
                        SocketPath = socket, Lossy = lossy, Burst = 8, QueueSize = 256, Poll = new PollOptions { Mode = guest }, ConnectTimeoutS = 10,
                    });
                    gens.Add(g);
                    g.Setup();
                }
                int n = gens.Count;
                Assert.True(Timeouts.WaitUntil(() => be.Server.Workers[0].ActivePairCount == n, Timeouts.Short), "the worker did not take every device's queues");
                body(gens);
            }, what);
        }
        finally
        {
            foreach (LoadGenerator g in gens)
            {
                g.Dispose();
            }
        }
    }

    [Fact]
    public void ThreeBusyGuestsOnOneThreadMoveTrafficWithNothingLostAndTheirCountsApart()
    {
        using InProcessBackend be = Backend(3, dropWhenFull: false);
        WithGuests(be, lossy: false, gens =>
        {
            var runner = new DeviceSetTrialRunner(gens, drainTimeoutS: 5, graceS: 1) { GapS = 0.005 };
            Assert.True(runner.SharedThread);
            _ = runner.Run(30_000, 0.05); // warm-up
            BackendStats s0 = be.Server.Stats.Snapshot();
            TrialResult r = runner.Run(30_000, 0.1);
            BackendStats s1 = be.Server.Stats.Snapshot();
            Assert.Equal(3, r.Devices.Count);
            for (int d = 0; d < 3; d++)
            {
                TrialResult x = r.Devices[d];
                // 10 kpps each in bursts of 8 for 0.1 s: 125 bursts, never more (a burst still
                // due when the window closes, the thread having been descheduled, is not sent),
                // and every frame sent comes back.
                Assert.Equal(10_000, x.IntendedPps);
                Assert.Equal(1_000, x.Offered);
                Assert.InRange(x.Sent, 1, x.Offered);
                Assert.Equal(x.Sent, x.Received);
                Assert.Equal(0, x.Errors);
                Assert.Equal(x.Received, x.Histogram!.TotalCount);
                // The back-end saw exactly this device's frames on this device, no other's.
                Assert.Equal(x.Sent, s1.Devices[d].Packets - s0.Devices[d].Packets);
            }
            Assert.Equal(3_000, r.Offered);
            Assert.Equal(r.Devices.Sum(d => d.Received), r.Received);
            Assert.Equal(r.Sent, r.Received);
            Assert.Equal(r.Received, r.Histogram!.TotalCount);
            Assert.Equal(r.Devices.Sum(d => d.LoadgenThreadCpuNs), r.LoadgenThreadCpuNs);

            TrialResult ping = runner.PingPong(0.05);
            Assert.All(ping.Devices, d => Assert.True(d.Received > 0 && d.Received == d.Sent, $"ping-pong: {d.Sent} sent, {d.Received} back"));
        }, "three busy guests on one thread");
    }

    /// <summary>Eight devices on the shared thread, lossy open loop (the density script's
    /// mode) against a back-end that drops when full: after warm-up, the thread's window and
    /// drain allocate exactly 0 bytes.</summary>
    [Fact]
    public void EightDevicesOnTheSharedThreadAllocateNothing()
    {
        using InProcessBackend be = Backend(8, dropWhenFull: true);
        WithGuests(be, lossy: true, gens =>
        {
            var runner = new DeviceSetTrialRunner(gens, drainTimeoutS: 2, graceS: 0.01) { GapS = 0.005 };
            Assert.True(runner.SharedThread);
            for (int i = 0; i < 3; i++)
            {
                _ = runner.Run(80_000, 0.05); // warm-up: every path jitted
            }
            TrialResult r = runner.Run(80_000, 0.1);
            Assert.Equal(0, runner.LastSteppingAllocatedBytes);
            Assert.Equal(8, r.Devices.Count);
            Assert.All(r.Devices, d => Assert.True(d.Received > 0 && d.Errors == 0, $"{d.Received} back, {d.Errors} errors"));
        }, "eight devices on the shared thread");
    }

    [Fact]
    public void GuestsThatSleepKeepAThreadEach()
    {
        using InProcessBackend be = Backend(2, dropWhenFull: false);
        WithGuests(be, lossy: false, gens =>
        {
            var runner = new DeviceSetTrialRunner(gens, drainTimeoutS: 5, graceS: 1);
            Assert.False(runner.SharedThread);
            TrialResult r = runner.Run(20_000, 0.05);
            Assert.All(r.Devices, d => Assert.True(d.Received > 0 && d.Received == d.Sent, $"{d.Sent} sent, {d.Received} back"));
            Assert.Equal(-1, runner.LastSteppingAllocatedBytes);
        }, "interrupt guests", PollMode.Interrupt);
    }
}

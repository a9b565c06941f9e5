using PerfLab.Backend.Devices;
using PerfLab.Backend.Server;
using PerfLab.Backend.Workers;
using PerfLab.LoadGen;
using PerfLab.LoadGen.Trials;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Polling;
using Xunit;

namespace PerfLab.Tests.LoadGen;

/// <summary>
/// Lossy open-loop trials (what NDR/PDR searches need): many on one connection, each with its
/// own counts; frames that find no room are dropped and counted, never sent late; a frame of
/// one trial coming back during the next is not that trial's.
/// </summary>
public class LossyTrialTests
{
    private static readonly PollOptions Interrupt = new() { Mode = PollMode.Interrupt };

    private static LoadGenOptions Lossy(string socket) => new()
    {
        SocketPath = socket,
        Lossy = true,
        Burst = 8,
        QueueSize = 64,
        Poll = Interrupt,
        ConnectTimeoutS = 5,
    };

    [Fact]
    public void ManyTrialsOnOneConnectionEachCountTheirOwnFrames()
    {
        using var be = new InProcessBackend(new NetDeviceOptions { MaxQueuePairs = 1, Backpressure = false, Poll = Interrupt });
        Timeouts.Run(TimeSpan.FromSeconds(30), () =>
        {
            using var gen = new LoadGenerator(Lossy(be.SocketPath) with { QueueSize = 256 });
            gen.Setup();
            Assert.True(Timeouts.WaitUntil(() => be.Server.Device.Workers[0].ActivePairCount == 1, Timeouts.Short));
            var runner = new TrialRunner(gen) { GapS = 0.005, GraceS = 1, DrainTimeoutS = 5 };
            // A warm-up trial (as a search starts with): the back-end's first frames may find it
            // still starting, and those that find no room are dropped, but always counted.
            TrialResult warm = runner.Run(5_000, 0.1);
            Assert.Equal(warm.Offered, warm.Sent + warm.TxDropped);
            Assert.Equal(warm.Offered - warm.Received, warm.Lost);
            for (int i = 0; i < 3; i++)
            {
                TrialResult r = runner.Run(5_000, 0.1);
                // 0.1 s at 5 kpps in bursts of 8: 63 bursts scheduled, each sent or dropped; the
                // ring holds 51 ms of schedule, so nothing is dropped unless the generator itself
                // was stalled longer (then the frames dropped were late, and the trial says so).
                Assert.Equal(504, r.Offered);
                Assert.Equal(r.Offered, r.Sent + r.TxDropped);
                Assert.True(r.TxDropped <= r.GeneratorShortfall, $"{r.TxDropped} dropped, {r.GeneratorShortfall} late");
                Assert.Equal(r.Sent, r.Received);
                Assert.Equal(r.TxDropped, r.Lost);
                Assert.Equal(0, r.Errors);
                Assert.Equal(0, r.Stale);
                Assert.Equal(r.Received, r.Histogram!.TotalCount);
                Assert.True(r.LoadgenThreadCpuNs > 0);
            }
            TrialResult ping = runner.PingPong(0.05);
            Assert.Equal(1, ping.Burst);
            Assert.True(ping.Received > 0);
            Assert.Equal(ping.Sent, ping.Received);
            Assert.Equal(ping.Offered, ping.Sent);
        }, "lossy trials");
    }

    [Fact]
    public void FramesThatFindNoRoomAreDroppedAndLateOnesAreStaleInTheNextTrial()
    {
        using var dir = new TempDir();
        var o = new BackendOptions
        {
            SocketPath = dir.File("v.sock"),
            StatsInterval = 0,
            Device = new NetDeviceOptions { MaxQueuePairs = 1, Backpressure = false, Poll = Interrupt },
        };
        // No worker threads: nothing takes the guest's TX frames until this test says so.
        using var server = new VhostUserServer(o, startWorkers: false);
        var serverThread = new Thread(server.Run) { IsBackground = true };
        serverThread.Start();
        var stop = new CancellationTokenSource();
        Thread? backend = null;
        try
        {
            Timeouts.Run(TimeSpan.FromSeconds(30), () =>
            {
                using var gen = new LoadGenerator(Lossy(o.SocketPath));
                gen.Setup();
                Worker worker = server.Device.Workers[0];
                Assert.True(Timeouts.WaitUntil(() => worker.ActivePairCount == 1, Timeouts.Short));

                TrialResult stuck = new TrialRunner(gen) { GraceS = 0.001, DrainTimeoutS = 0.02 }.Run(100_000, 0.05);
                Assert.Equal(5000, stuck.Offered);
                Assert.Equal(64, stuck.Sent); // the TX ring's room, then nothing more
                Assert.Equal(stuck.Offered - 64, stuck.TxDropped);
                Assert.Equal(0, stuck.Received);
                Assert.Equal(stuck.Offered, stuck.Lost);
                Assert.Equal(1.0, stuck.LossRatio);

                // The back-end starts: the 64 stuck frames come back during the next trial.
                backend = new Thread(() =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        if (worker.DoWork() == 0)
                        {
                            worker.IdleOnce();
                        }
                    }
                }) { IsBackground = true, Name = "lossy-test-backend" };
                backend.Start();
                // Once the back-end has looped them, the next trial's first step takes them and
                // posts their RX buffers again before it sends.
                Assert.True(Timeouts.WaitUntil(() => server.Vrings[1].Counters.Packets == 64, Timeouts.Short), "the stuck frames were not taken");
                // 1 kpps in bursts of 8: the ring holds 64 ms of schedule, so only a thread
                // stalled longer than that (a loaded machine) could find it full; and then the
                // frames dropped were late (the generator's shortfall), which the trial says.
                TrialResult next = new TrialRunner(gen) { GraceS = 1, DrainTimeoutS = 5 }.Run(1_000, 0.1);
                Assert.Equal(64, next.Stale);
                Assert.Equal(104, next.Offered);
                Assert.Equal(next.Offered, next.Sent + next.TxDropped);
                Assert.True(next.TxDropped <= next.GeneratorShortfall, $"{next.TxDropped} dropped, {next.GeneratorShortfall} late");
                Assert.Equal(next.Sent, next.Received);
                Assert.Equal(next.Offered - next.Received, next.Lost);
                Assert.Equal(0, next.Errors);
                stop.Cancel();
                PerfLab.Vhost.Interop.EventFd.Signal(gen.Pairs[0].KickTx); // wake the back-end so its thread ends
            }, "stuck and stale trials");
        }
        finally
        {
            stop.Cancel();
            backend?.Join(Timeouts.Short);
            server.Stop();
            serverThread.Join(Timeouts.Short);
        }
    }
}

using PerfLab.Backend.Devices;
using PerfLab.LoadGen;
using PerfLab.LoadGen.Cli;
using PerfLab.LoadGen.Trials;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Polling;
using Xunit;

namespace PerfLab.Tests.LoadGen;

/// <summary>
/// Several devices driven at once (issue 14's load-generator part), here against several
/// single-device back-ends: each device has its own connection, memory and rings; a trial's
/// total rate is split evenly; the result gives each device's figures and their totals.
/// </summary>
public class DeviceSetTrialTests
{
    private static readonly PollOptions Interrupt = new() { Mode = PollMode.Interrupt };

    [Fact]
    public void ATrialOverThreeDevicesSplitsTheRateAndTotalsEachDevicesFigures()
    {
        var backends = new List<InProcessBackend>();
        var gens = new List<LoadGenerator>();
        try
        {
            for (int d = 0; d < 3; d++)
            {
                backends.Add(new InProcessBackend(new NetDeviceOptions { MaxQueuePairs = 1, Backpressure = false, Poll = Interrupt }));
            }
            Timeouts.Run(TimeSpan.FromSeconds(60), () =>
            {
                foreach (InProcessBackend be in backends)
                {
                    var g = new LoadGenerator(new LoadGenOptions
                    {
                        SocketPath = be.SocketPath, Lossy = true, Burst = 8, QueueSize = 256, Poll = Interrupt, ConnectTimeoutS = 5,
                    });
                    gens.Add(g);
                    g.Setup();
                    Assert.True(Timeouts.WaitUntil(() => be.Server.Device.Workers[0].ActivePairCount == 1, Timeouts.Short));
                }
                var runner = new DeviceSetTrialRunner(gens, drainTimeoutS: 5, graceS: 1) { GapS = 0.005 };
                Assert.Equal(3, runner.Devices);
                _ = runner.Run(6_000, 0.05); // warm-up
                TrialResult r = runner.Run(6_000, 0.1);
                Assert.Equal(3, r.Devices.Count);
                foreach (TrialResult d in r.Devices)
                {
                    // 2 kpps each in bursts of 8 for 0.1 s: 25 bursts.
                    Assert.Equal(2_000, d.IntendedPps);
                    Assert.Equal(200, d.Offered);
                    Assert.Equal(d.Offered, d.Sent + d.TxDropped);
                    Assert.True(d.TxDropped <= d.GeneratorShortfall, $"{d.TxDropped} dropped, {d.GeneratorShortfall} late");
                    Assert.Equal(d.Sent, d.Received);
                    Assert.Equal(0, d.Errors);
                }
                Assert.Equal(6_000, r.IntendedPps);
                Assert.Equal(600, r.Offered);
                Assert.Equal(r.Devices.Sum(d => d.Received), r.Received);
                Assert.Equal(r.Devices.Sum(d => d.Lost), r.Lost);
                Assert.Equal(r.Received, r.Histogram!.TotalCount);
                Assert.Equal(r.Devices.Sum(d => d.LoadgenThreadCpuNs), r.LoadgenThreadCpuNs);
                Assert.Equal(-1, r.BackendCpuNs); // no stats socket given

                TrialResult ping = runner.PingPong(0.05);
                Assert.All(ping.Devices, d => Assert.True(d.Received > 0 && d.Received == d.Sent));
            }, "trials over three devices");
        }
        finally
        {
            foreach (LoadGenerator g in gens)
            {
                g.Dispose();
            }
            foreach (InProcessBackend be in backends)
            {
                be.Dispose();
            }
        }
    }

    [Fact]
    public void TheCommandLineMakesOneDevicePerSocket()
    {
        LoadGenInvocation a = new LoadGenCommand().Parse(["--sockets", "/run/v", "--devices", "4", "--rate", "1M", "--inflight", "64"]);
        Assert.Equal(["/run/v/vhost-0.sock", "/run/v/vhost-1.sock", "/run/v/vhost-2.sock", "/run/v/vhost-3.sock"], a.Devices.Select(d => d.SocketPath));
        Assert.All(a.Devices, d => Assert.Equal((250_000.0, 16), (d.RatePps, d.MaxInFlight)));
        LoadGenInvocation b = new LoadGenCommand().Parse(["--socket", "/a", "--socket=/b"]);
        Assert.Equal(["/a", "/b"], b.Devices.Select(d => d.SocketPath));
        Assert.Single(new LoadGenCommand().Parse(["--socket", "/a"]).Devices);
        Assert.Throws<ArgumentException>(() => new LoadGenCommand().Parse(["--devices", "2"]));
        Assert.Throws<ArgumentException>(() => new LoadGenCommand().Parse(["--socket", "/a", "--sockets", "/d", "--devices", "2"]));
        Assert.Throws<ArgumentException>(() => new LoadGenCommand().Parse(["--socket", "/a", "--socket", "/a"]));
        Assert.Throws<ArgumentException>(() => new LoadGenCommand().Parse(["--socket", "/a", "--socket", "/b", "--reconnects", "1"]));
    }
}

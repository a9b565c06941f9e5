using PerfLab.Backend.Devices;
using PerfLab.LoadGen;
using PerfLab.LoadGen.Guest;
using PerfLab.LoadGen.Trials;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Diagnostics;
using PerfLab.Vhost.Polling;
using Xunit;

namespace PerfLab.Tests.LoadGen;

/// <summary>
/// The TSC is the host's: a VM restored from a snapshot or moved to another host reads one that
/// can be days behind. A bench run on 2026-12-04 spun for minutes in a trial whose deadline was
/// in the old host's ticks. Every tick deadline now also ends when the clock reads earlier than
/// its start, and a trial that saw it fails instead of reporting its times.
/// </summary>
public class ClockJumpTests
{
    private static readonly PollOptions Interrupt = new() { Mode = PollMode.Interrupt };

    private static LoadGenerator Connected(InProcessBackend be)
    {
        var gen = new LoadGenerator(new LoadGenOptions
        {
            SocketPath = be.SocketPath,
            Lossy = true,
            Burst = 8,
            QueueSize = 64,
            Poll = Interrupt,
            ConnectTimeoutS = 5,
        });
        gen.Setup();
        return gen;
    }

    [Fact]
    public void AWaitIsOverAtItsEndOrWhenTheClockReadsEarlierThanItsStart()
    {
        Assert.False(Clock.Expired(now: 150, start: 100, end: 200));
        Assert.True(Clock.Expired(now: 200, start: 100, end: 200));
        Assert.True(Clock.Expired(now: 99, start: 100, end: 200));
        Assert.True(Clock.Expired(now: 5, start: 1_000_000_000, end: long.MaxValue));
    }

    [Fact]
    public void TheTrafficLoopAndTheDrainEndWhenTheClockGoesBack()
    {
        using var be = new InProcessBackend(new NetDeviceOptions { MaxQueuePairs = 1, Backpressure = false, Poll = Interrupt });
        Timeouts.Run(TimeSpan.FromSeconds(30), () =>
        {
            using LoadGenerator gen = Connected(be);
            TrafficEngine e = gen.Engine!;
            long hour = 3600 * Clock.TicksPerSecond;

            // A wait that "started" an hour from now: as if the clock had since gone back an
            // hour. It must end at once, not an hour and more later.
            long now = Clock.Now();
            e.RunUntil(now + 2 * hour, startTick: now + hour);
            Assert.Equal(1, e.C.ClockJumps);

            var drain = new TrialDrain(sent: 1, received0: e.C.Received, graceTicks: hour, endTick: now + 2 * hour, lastWork: now + hour);
            Assert.True(e.DrainStep(ref drain, out _));
            Assert.Equal(2, e.C.ClockJumps);
        }, "a clock that goes back");
    }

    [Fact]
    public void ATrialThatSawTheClockGoBackFailsAndTheNextOneRuns()
    {
        using var be = new InProcessBackend(new NetDeviceOptions { MaxQueuePairs = 1, Backpressure = false, Poll = Interrupt });
        Timeouts.Run(TimeSpan.FromSeconds(30), () =>
        {
            using LoadGenerator gen = Connected(be);
            var runner = new TrialRunner(gen) { GapS = 0.005, GraceS = 0.2, DrainTimeoutS = 2 };
            TrialRunner.ActiveTrial t = runner.Begin(new TrialSpec(5_000, 0.05));
            runner.Start(t);
            gen.Engine!.RunUntil(gen.Engine.ScheduleEndTick, startTick: Clock.Now() + 3600 * Clock.TicksPerSecond);
            t.EndWindow();
            TrialDrain d = runner.BeginDrain(t);
            gen.Engine.RunDrain(ref d);
            var ex = Assert.Throws<InvalidOperationException>(() => runner.End(t));
            Assert.Contains("read earlier than the trial's start", ex.Message);

            TrialResult next = runner.Run(5_000, 0.05);
            Assert.True(next.Received > 0);
            Assert.Equal(next.Offered - next.Received, next.Lost);
        }, "a trial across a clock jump");
    }
}

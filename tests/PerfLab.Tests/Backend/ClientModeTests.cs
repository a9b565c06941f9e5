using PerfLab.LoadGen;
using PerfLab.Tests.Infrastructure;
using Xunit;

namespace PerfLab.Tests.Backend;

/// <summary>
/// The back-end in client mode (it connects to a front-end that listens, as with QEMU
/// server=on), reconnecting with back-off whenever the front-end goes away.
/// </summary>
public class ClientModeTests
{
    private static InProcessBackend ClientBackend() => new(configure: o => o with
    {
        Client = true,
        ReconnectMin = TimeSpan.FromMilliseconds(2),
        ReconnectMax = TimeSpan.FromMilliseconds(50),
    });

    private static LoadGenOptions Listening(string socket) => Traffic.Quick(socket) with { Listen = true };

    [Fact]
    public void WhenTheFrontendClosesAndANewOneListensTheBackendReconnectsAndTrafficResumes()
    {
        using var be = ClientBackend();
        Timeouts.Run(Timeouts.Process, () =>
        {
            for (int round = 0; round < 3; round++)
            {
                using (var gen = new LoadGenerator(Listening(be.SocketPath)))
                {
                    gen.Setup();
                    LoadGenResult r = gen.Run();
                    Traffic.AssertIntact(r);
                    Assert.True(r.ConnectToFirstFrameMs >= 0);
                }
                // The front-end closed: the back-end ends the session and dials again.
                Assert.True(Timeouts.WaitUntil(() => be.Server.SessionsServed == round + 1, Timeouts.Short));
            }
        }, "front-end restarts");
    }

    [Fact]
    public void AFrontendThatReopensItsSocketWithTheGuestRunningGetsTrafficBackWithNoLoss()
    {
        using var be = ClientBackend();
        Timeouts.Run(Timeouts.Process, () =>
        {
            using var gen = new LoadGenerator(Listening(be.SocketPath) with { Reconnects = 3 });
            gen.Setup();
            LoadGenResult r = gen.Run();
            Traffic.AssertIntact(r);
            Assert.Equal(3, r.ReconnectMs.Count);
            Assert.All(r.ReconnectMs, ms => Assert.True(ms >= 0, "a reconnect never brought a frame back"));
            Assert.Equal(3, be.Server.SessionsServed);
        }, "reopen with the guest running");
    }
}

using PerfLab.Backend.Devices;
using PerfLab.LoadGen;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Protocol;
using Xunit;

namespace PerfLab.Tests.Backend;

/// <summary>The handshake over a real UNIX socket, in-process: memfd regions and eventfds
/// passed with SCM_RIGHTS, then traffic through the started rings.</summary>
public class HandshakeTests
{
    private static LoadGenOptions Options(string socket, HandshakeOrder order = HandshakeOrder.Qemu) => new()
    {
        SocketPath = socket,
        Order = order,
        DurationS = 0.3,
        WarmupS = 0.05,
        Poll = new PollOptions { Mode = PollMode.Interrupt },
        ConnectTimeoutS = 5,
        Verify = true,
    };

    [Theory]
    [InlineData(HandshakeOrder.Qemu)]
    [InlineData(HandshakeOrder.Dpdk)]
    public void HandshakeStartsBothRingsAndFramesComeBackIntact(HandshakeOrder order)
    {
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var gen = new LoadGenerator(Options(be.SocketPath, order));
            gen.Setup();
            Assert.True(Timeouts.WaitUntil(() => be.Server.Vrings[1].IsActive && be.Server.Vrings[0].IsActive, Timeouts.Short));
            var h = be.Server.CurrentSession!;
            Assert.True(h.HasOwner);
            Assert.True(VirtioFeatures.Has(h.AckedFeatures, VirtioFeatures.Version1));
            Assert.True(VirtioFeatures.Has(h.AckedFeatures, VirtioFeatures.RingEventIdx));
            Assert.True((h.AckedProtocolFeatures & ProtocolFeatures.ReplyAck) != 0);
            Assert.Equal(1, h.Memory.RegionCount);
            // The fds came through: the back-end holds its own kick and call fds for both rings.
            Assert.True(be.Server.Vrings[0].KickFd >= 0 && be.Server.Vrings[1].KickFd >= 0);
            Assert.True(be.Server.Vrings[0].CallFd >= 0 && be.Server.Vrings[1].CallFd >= 0);

            LoadGenResult r = gen.Run();
            Assert.True(r.Received > 1000, $"only {r.Received} frames came back");
            Assert.Equal(0, r.Lost);
            Assert.Equal(0, r.SeqErrors);
            Assert.Equal(0, r.VerifyErrors);
            Assert.Equal(0, r.Corrupt);
            Assert.Equal(0, r.Unswapped);
            Assert.Equal(0, r.BadLength);

            uint[] bases = gen.Teardown();
            Assert.Equal((uint)(r.Sent & 0xFFFF), bases[1]);           // TX: everything sent was taken
            Assert.False(be.Server.Vrings[1].Started);                   // GET_VRING_BASE stopped it
        }, "handshake and traffic");
    }

    [Fact]
    public void AfterADisconnectTheBackendCleansUpAndServesTheNextFrontEnd()
    {
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Short, () =>
        {
            for (int round = 0; round < 3; round++)
            {
                using (var gen = new LoadGenerator(Options(be.SocketPath) with { DurationS = 0.1 }))
                {
                    gen.Setup();
                    var r = gen.Run();
                    Assert.True(r.Received > 0);
                    Assert.Equal(0, r.Lost);
                }
                // The front-end closed without a teardown: everything is released.
                Assert.True(Timeouts.WaitUntil(() => be.Server.SessionsServed == round + 1, Timeouts.Short));
                Assert.All(be.Server.Vrings, v => Assert.True(v.KickFd < 0 && v.CallFd < 0 && v.ErrFd < 0 && !v.Started));
            }
        }, "three sessions");
    }

    [Fact]
    public void EnablesSentBeforeRingSetupAreKept()
    {
        // QEMU 7.2 sends every SET_VRING_ENABLE(1) before SET_FEATURES and ring setup, never again.
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var gen = new LoadGenerator(Options(be.SocketPath));
            gen.Setup();
            var fe = gen.Frontend;
            int firstEnable = fe.Sent.IndexOf(VhostUserRequest.SetVringEnable);
            Assert.True(firstEnable >= 0);
            Assert.True(firstEnable < fe.Sent.IndexOf(VhostUserRequest.SetFeatures));
            Assert.True(firstEnable < fe.Sent.IndexOf(VhostUserRequest.SetMemTable));
            Assert.True(firstEnable < fe.Sent.IndexOf(VhostUserRequest.SetVringKick));
            Assert.True(Timeouts.WaitUntil(() => be.Server.Vrings[0].IsActive && be.Server.Vrings[1].IsActive, Timeouts.Short));
        }, "enable before setup");
    }

    [Fact]
    public void GetQueueNumReportsQueuePairs()
    {
        using var be = new InProcessBackend(new NetDeviceOptions { MaxQueuePairs = 4, Poll = new PollOptions { Mode = PollMode.Interrupt } });
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var fe = PerfLab.LoadGen.Frontend.VhostUserFrontend.Connect(be.SocketPath, Timeouts.Short);
            fe.GetFeatures();
            fe.SetProtocolFeatures(fe.GetProtocolFeatures() & (ProtocolFeatures.Mq | ProtocolFeatures.ReplyAck));
            Assert.Equal(4ul, fe.GetQueueNum());
            Assert.True(VirtioFeatures.Has(fe.BackendFeatures, VirtioFeatures.NetMq));
        }, "GET_QUEUE_NUM");
    }
}

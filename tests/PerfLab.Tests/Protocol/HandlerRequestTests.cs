using System.Runtime.InteropServices;
using PerfLab.Backend.Devices;
using PerfLab.LoadGen;
using PerfLab.LoadGen.Frontend;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Protocol;
using Xunit;

namespace PerfLab.Tests.Protocol;

/// <summary>
/// The handler's requests one by one, over a real UNIX socket to an in-process back-end: what is
/// offered, what each request does to the session, and how refusals are reported (a failure
/// ack and the session goes on, or the connection closes, never a crash or a hang).
/// </summary>
public class HandlerRequestTests
{
    private static VhostUserFrontend Connect(InProcessBackend be, ulong protocol)
    {
        var fe = VhostUserFrontend.Connect(be.SocketPath, Timeouts.Short);
        fe.GetFeatures();
        fe.SetProtocolFeatures(fe.GetProtocolFeatures() & (protocol | ProtocolFeatures.ReplyAck));
        fe.SetOwner();
        Assert.True(Timeouts.WaitUntil(() => be.Server.CurrentSession?.HasOwner == true, Timeouts.Short));
        return fe;
    }

    private static int MemFile(ulong size)
    {
        int fd = LibC.memfd_create("perflab-test", LibC.MFD_CLOEXEC);
        Assert.True(fd >= 0);
        Assert.Equal(0, LibC.ftruncate(fd, (long)size));
        return fd;
    }

    private static MemoryRegionDesc Region(int i) => new(0x1000_0000UL + (ulong)i * 0x10000, 4096, 0x7000_0000_0000UL + (ulong)i * 0x10000, 0);

    [Fact]
    public void OffersExactlyTheFeaturesItImplements()
    {
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var fe = VhostUserFrontend.Connect(be.SocketPath, Timeouts.Short);
            ulong f = fe.GetFeatures();
            ulong p = fe.GetProtocolFeatures();
            Assert.Equal(NetDeviceOptions.SupportedProtocolFeatures, p);
            foreach (ulong bit in new[] { VirtioFeatures.InOrder, VirtioFeatures.LogAll, VirtioFeatures.NetMtu, VirtioFeatures.NetMrgRxbuf, VirtioFeatures.RingIndirectDesc, VirtioFeatures.RingEventIdx, VirtioFeatures.NetMq })
            {
                Assert.True((f & bit) != 0, VirtioFeatures.Describe(bit));
            }
            foreach (ulong bit in new[] { ProtocolFeatures.InflightShmfd, ProtocolFeatures.Pagefault, ProtocolFeatures.InbandNotifications, ProtocolFeatures.Config, ProtocolFeatures.HostNotifier })
            {
                Assert.True((p & bit) == 0, ProtocolFeatures.Describe(bit));
            }
        }, "offers");
    }

    [Fact]
    public void WithoutLogShmfdLogAllIsNotOffered()
    {
        using var be = new InProcessBackend(new NetDeviceOptions { DisabledProtocolFeatures = ProtocolFeatures.LogShmfd, Poll = new PollOptions { Mode = PollMode.Interrupt } });
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var fe = VhostUserFrontend.Connect(be.SocketPath, Timeouts.Short);
            Assert.Equal(0UL, fe.GetFeatures() & VirtioFeatures.LogAll);
        }, "no LOG_ALL");
    }

    [Fact]
    public void AddMemRegAndRemMemRegManage509RegionsAndRefuseThe510th()
    {
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Process, () =>
        {
            using var fe = Connect(be, ProtocolFeatures.ConfigureMemSlots);
            Assert.Equal(509UL, fe.GetMaxMemSlots());
            for (int i = 0; i < 509; i++)
            {
                int fd = MemFile(4096);
                fe.AddMemReg(Region(i), fd);
                LibC.close(fd);
            }
            var h = be.Server.CurrentSession!;
            Assert.Equal(509, h.Memory.RegionCount);
            Assert.Equal(Region(508).GuestPhysAddr, h.Memory.Regions.Max(r => r.Desc.GuestPhysAddr));

            int extra = MemFile(4096);
            var refused = Assert.Throws<VhostProtocolException>(() => fe.AddMemReg(Region(509), extra));
            Assert.Contains("reply-ack", refused.Message);
            LibC.close(extra);
            Assert.Equal(509, h.Memory.RegionCount);

            for (int i = 0; i < 509; i++)
            {
                fe.RemMemReg(Region(i));
            }
            Assert.Equal(0, h.Memory.RegionCount);
            fe.GetFeatures(); // the refusal did not end the session
        }, "509 regions");
    }

    [Fact]
    public void AddingTheSameRegionTwiceMapsItOnceAndRemovingAnUnknownOneIsRefused()
    {
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var fe = Connect(be, ProtocolFeatures.ConfigureMemSlots);
            int fd = MemFile(4096);
            fe.AddMemReg(Region(0), fd);
            fe.AddMemReg(Region(0), fd);
            LibC.close(fd);
            Assert.Equal(1, be.Server.CurrentSession!.Memory.RegionCount);
            Assert.Throws<VhostProtocolException>(() => fe.RemMemReg(Region(1)));
            fe.RemMemReg(Region(0));
            Assert.Equal(0, be.Server.CurrentSession!.Memory.RegionCount);
        }, "idempotent add");
    }

    [Fact]
    public void AddMemRegOverlappingAnotherRegionIsRefusedAndNothingChanges()
    {
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var fe = Connect(be, ProtocolFeatures.ConfigureMemSlots);
            int fd = MemFile(8192);
            fe.AddMemReg(new MemoryRegionDesc(0x1000_0000, 8192, 0x7000_0000_0000, 0), fd);
            Assert.Throws<VhostProtocolException>(() => fe.AddMemReg(new MemoryRegionDesc(0x1000_1000, 4096, 0x7100_0000_0000, 0), fd));
            LibC.close(fd);
            Assert.Equal(1, be.Server.CurrentSession!.Memory.RegionCount);
        }, "overlap");
    }

    [Fact]
    public void MemSlotRequestsWithoutConfigureMemSlotsCloseTheConnection()
    {
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var fe = Connect(be, 0);
            int fd = MemFile(4096);
            Assert.Throws<VhostProtocolException>(() => fe.AddMemReg(Region(0), fd));
            LibC.close(fd);
            Assert.True(fe.PeerClosed(2000));
        }, "no mem slots");
    }

    [Fact]
    public void InflightRequestsAreAnsweredWithoutAnAreaAndTheSessionGoesOn()
    {
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var fe = Connect(be, 0);
            var (reply, fds) = fe.Request(VhostUserRequest.GetInflightFd, new byte[24], []);
            Assert.Equal(24, reply.Length);
            Assert.Equal(0UL, MemoryMarshal.Read<InflightDesc>(reply).MmapSize);
            Assert.Empty(fds);
            int fd = MemFile(4096);
            var e = Assert.Throws<VhostProtocolException>(() => fe.Send(VhostUserRequest.SetInflightFd, new byte[24], [fd], needReply: true));
            LibC.close(fd);
            Assert.Contains("reply-ack", e.Message);
            fe.GetFeatures();
        }, "inflight");
    }

    /// <summary>Found by fuzzing (Fuzz/regressions/handler/kick-fd-is-a-memfd): a kick fd that
    /// epoll cannot wait on made the worker's resume throw.</summary>
    [Fact]
    public void RingFdsThatAreNotEventfdsOrPipesAreRefusedAndTheSessionGoesOn()
    {
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var fe = Connect(be, ProtocolFeatures.LogShmfd);
            int mem = MemFile(4096);
            foreach (VhostUserRequest r in new[] { VhostUserRequest.SetVringKick, VhostUserRequest.SetVringCall, VhostUserRequest.SetVringErr })
            {
                var e = Assert.Throws<VhostProtocolException>(() => fe.Send(r, BitConverter.GetBytes(0UL), [mem], needReply: true));
                Assert.Contains("reply-ack", e.Message);
            }
            Assert.Throws<VhostProtocolException>(() => fe.Send(VhostUserRequest.SetLogFd, [], [mem], needReply: true));
            LibC.close(mem);
            int ev = EventFd.Create();
            fe.Send(VhostUserRequest.SetVringKick, BitConverter.GetBytes(0UL), [ev], needReply: true);
            fe.Send(VhostUserRequest.SetVringCall, BitConverter.GetBytes(0UL), [ev], needReply: true);
            LibC.close(ev);
            Assert.Equal(0, be.Server.Vrings[0].Counters.Faults);
            fe.GetFeatures();
        }, "ring fds");
    }

    [Theory]
    [InlineData(68UL, true)]
    [InlineData(1500UL, true)]
    [InlineData(65535UL, true)]
    [InlineData(67UL, false)]
    [InlineData(65536UL, false)]
    public void NetSetMtuAcceptsEthernetMtusAndRefusesOthersWithoutClosing(ulong mtu, bool ok)
    {
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var fe = Connect(be, ProtocolFeatures.NetMtu);
            if (ok)
            {
                fe.NetSetMtu(mtu);
                Assert.Equal((uint)mtu, be.Server.CurrentSession!.Mtu);
            }
            else
            {
                Assert.Throws<VhostProtocolException>(() => fe.NetSetMtu(mtu));
                Assert.Equal(0u, be.Server.CurrentSession!.Mtu);
                fe.GetFeatures();
            }
        }, "mtu");
    }

    [Fact]
    public void SetLogBaseMapsTheBitmapAndReplies()
    {
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var fe = Connect(be, ProtocolFeatures.LogShmfd);
            int fd = MemFile(4096);
            fe.SetLogBase(4096, 0, fd);
            Assert.NotNull(be.Server.CurrentSession!.DirtyLog);
            Assert.Equal(4096UL, be.Server.CurrentSession!.DirtyLog!.SizeBytes);
            // A second log replaces the first (refusals: the hostile suite, "SET_LOG_BASE ...").
            fe.SetLogBase(2048, 1024, fd);
            Assert.Equal(2048UL, be.Server.CurrentSession!.DirtyLog!.SizeBytes);
            int ev = EventFd.Create();
            fe.SetLogFd(ev);
            LibC.close(ev);
            LibC.close(fd);
        }, "log base");
    }

    [Fact]
    public void SendRarpWithoutRarpNegotiatedIsRefused()
    {
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var fe = Connect(be, 0);
            fe.SendRarp(new byte[] { 2, 0, 0, 0, 0, 1 });
            Assert.True(fe.PeerClosed(2000));
        }, "rarp without the feature");
    }

    [Fact]
    public void ResetDeviceStopsRingsAndForgetsFeaturesButKeepsOwnerProtocolAndMemory()
    {
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var gen = new LoadGenerator(new LoadGenOptions
            {
                SocketPath = be.SocketPath,
                Poll = new PollOptions { Mode = PollMode.Interrupt },
                ConnectTimeoutS = 5,
                ResetDevice = true,
            });
            gen.Setup();
            Assert.True(Timeouts.WaitUntil(() => be.Server.Vrings[1].IsActive, Timeouts.Short));
            var h = be.Server.CurrentSession!;
            ulong protocol = h.AckedProtocolFeatures;
            gen.Frontend.ResetDevice();
            Assert.All(be.Server.Vrings, v => Assert.False(v.Started || v.Enabled || v.KickFd >= 0 || v.CallFd >= 0));
            Assert.Equal(0UL, h.AckedFeatures);
            Assert.Equal(0, (int)h.Status);
            Assert.True(h.HasOwner);
            Assert.Equal(protocol, h.AckedProtocolFeatures);
            Assert.Equal(1, h.Memory.RegionCount);
            Assert.All(be.Server.Device.Workers, w => Assert.Equal(0, w.ActivePairCount));
        }, "reset");
    }

    [Fact]
    public void APairEnabledAfterItsRingsStartedJoinsTheDataPath()
    {
        using var be = new InProcessBackend();
        Timeouts.Run(Timeouts.Short, () =>
        {
            using var gen = new LoadGenerator(new LoadGenOptions
            {
                SocketPath = be.SocketPath,
                Queues = 2,
                Poll = new PollOptions { Mode = PollMode.Interrupt },
                ConnectTimeoutS = 5,
            });
            gen.Setup();
            Assert.True(Timeouts.WaitUntil(() => be.Server.Device.Workers.All(w => w.ActivePairCount == 1), Timeouts.Short));
            gen.Frontend.SetVringEnable(2, false);
            gen.Frontend.SetVringEnable(3, false);
            Assert.Equal(0, be.Server.Device.Workers[1].ActivePairCount);
            Assert.True(be.Server.Vrings[3].Started); // stopped only by GET_VRING_BASE
            gen.Frontend.SetVringEnable(2, true);
            gen.Frontend.SetVringEnable(3, true);
            Assert.Equal(1, be.Server.Device.Workers[1].ActivePairCount);
        }, "late enable");
    }
}

using Xunit;

namespace PerfLab.Tests.Peers;

/// <summary>
/// A real Linux guest (QEMU, TCG here) with a vhost-user virtio-net device served by our
/// back-end in loopback: the guest must get back every frame it sent. Through
/// scripts/qemu-smoke, which builds the initramfs, runs both processes and parses the console.
/// </summary>
[Collection("processes")]
public class QemuGuestTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(180);

    [RequiresQemuFact]
    public void GuestGetsBackEveryFrameItSentThroughOurLoopback()
    {
        ScriptResult r = PeerEnvironment.RunScript("qemu-smoke", Limit, "--frames", "100");
        r.AssertPassed();
        long tx = r.Number("qemu-smoke: guest", "tx");
        long rx = r.Number("qemu-smoke: guest", "rx");
        Assert.True(tx >= 100, $"the guest sent only {tx} frames\n{r.Output}");
        Assert.Equal(tx, rx);
        Assert.Equal(tx, r.Number("qemu-smoke: backend", "frames"));
        string guest = r.Line("qemu-smoke: guest");
        Assert.Contains("version_1", guest, StringComparison.Ordinal);
        Assert.Contains("event_idx", guest, StringComparison.Ordinal);
        Assert.Contains("PASS", r.Output, StringComparison.Ordinal);
    }

    [RequiresQemuFact]
    public void MultiqueueGuestWithQemuListeningUsesBothQueuePairs()
    {
        ScriptResult r = PeerEnvironment.RunScript("qemu-smoke", Limit, "--queues", "2", "--frames", "100", "--qemu-server");
        r.AssertPassed();
        Assert.Equal(r.Number("qemu-smoke: guest", "tx"), r.Number("qemu-smoke: guest", "rx"));
        Assert.Equal(2, r.Number("qemu-smoke: guest", "queues"));
        Assert.Contains(" mq ", r.Line("qemu-smoke: guest"), StringComparison.Ordinal);
        string backend = r.Line("qemu-smoke: backend");
        Assert.True(r.Number("qemu-smoke: backend", "tx0") > 0 && r.Number("qemu-smoke: backend", "tx1") > 0,
            $"both TX queues should carry frames: {backend}");
        Assert.Contains("direction=qemu-listens", r.Output, StringComparison.Ordinal);
    }

    /// <summary>The guest's own virtio_net driver negotiates the packed ring with our back-end
    /// and gets every frame back.</summary>
    [RequiresQemuFact]
    public void GuestUsesThePackedRingAndGetsEveryFrameBack()
    {
        ScriptResult r = PeerEnvironment.RunScript("qemu-smoke", Limit, "--packed", "--frames", "100");
        r.AssertPassed();
        Assert.Contains("ring_packed", r.Line("qemu-smoke: guest"), StringComparison.Ordinal);
        Assert.Equal(r.Number("qemu-smoke: guest", "tx"), r.Number("qemu-smoke: guest", "rx"));
    }

    /// <summary>QEMU is restarted while the back-end keeps running: the same back-end process
    /// serves the second guest, which gets every frame back too.</summary>
    [RequiresQemuFact]
    public void BackendKeepsServingWhenQemuRestarts()
    {
        ScriptResult r = PeerEnvironment.RunScript("qemu-smoke", TimeSpan.FromSeconds(300), "--restarts", "1", "--packed", "--frames", "100");
        r.AssertPassed();
        Assert.Contains("boot=2", r.Output, StringComparison.Ordinal);
        Assert.Contains("restarts=1", r.Output, StringComparison.Ordinal);
        long backendFrames = r.Number("qemu-smoke: backend", "frames");
        Assert.True(backendFrames >= 200, $"two boots of 100 frames, the back-end saw {backendFrames}\n{r.Output}");
    }
}

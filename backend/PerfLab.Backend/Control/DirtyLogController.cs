using PerfLab.Backend.Logging;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;

namespace PerfLab.Backend.Control;

/// <summary>The dirty log for live migration (LOG_SHMFD): SET_LOG_BASE and SET_LOG_FD.</summary>
internal sealed class DirtyLogController
{
    private readonly VhostUserSession _s;

    public DirtyLogController(VhostUserSession session) => _s = session;

    /// <summary>
    /// SET_LOG_BASE: maps the dirty bitmap (docs/protocol.md#dirty-log) and hands it to the
    /// workers; the previous log stays mapped until they run with the new one. The reply is a u64 0
    /// (as libvhost-user; QEMU checks only the request code).
    /// </summary>
    public void SetLogBase(ReceivedMessage m)
    {
        const VhostUserRequest r = VhostUserRequest.SetLogBase;
        _s.Require(r, ProtocolFeatures.LogShmfd, "LOG_SHMFD");
        LogDesc d = MessageCodec.ReadPayload<LogDesc>(r, m.PayloadSpan);
        DirtyLog log = DirtyLog.Map(d, m.TakeFd(0));
        DirtyLog? old = _s.DirtyLog;
        if (_s.AnyStarted())
        {
            _s.Reconfigure(() => _s.DirtyLog = log);
        }
        else
        {
            _s.DirtyLog = log;
        }
        old?.Dispose();
        _s.Logger.DirtyLogMapped(d.MmapSize, new Hex(d.MmapSize * 8 * 4096), VirtioFeatures.Has(_s.AckedFeatures, VirtioFeatures.LogAll) ? "on" : "off until LOG_ALL");
    }

    /// <summary>SET_LOG_FD: an eventfd the front-end may want poked after logging. Kept for the
    /// session; never poked (QEMU does not send it; its log sync reads the bitmap).</summary>
    public void SetLogFd(ReceivedMessage m)
    {
        const VhostUserRequest r = VhostUserRequest.SetLogFd;
        _s.Require(r, ProtocolFeatures.LogShmfd, "LOG_SHMFD");
        if (EventFd.AdoptForeign(m.Fds[0]) is { } why)
        {
            throw new VhostProtocolException(r, "fd", $"{m.Fds[0]}", why) { Fatal = false };
        }
        LibC.CloseQuietly(_s.LogFd);
        _s.LogFd = m.TakeFd(0);
    }
}

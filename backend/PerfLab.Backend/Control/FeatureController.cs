using PerfLab.Backend.Logging;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;

namespace PerfLab.Backend.Control;

/// <summary>
/// Negotiation: SET_FEATURES and SET_PROTOCOL_FEATURES (each a subset of the device's offer),
/// SET_BACKEND_REQ_FD, and the inflight requests a net device answers without an inflight area.
/// </summary>
internal sealed class FeatureController
{
    private readonly VhostUserSession _s;

    public FeatureController(VhostUserSession session) => _s = session;

    public void SetFeatures(ulong features)
    {
        const VhostUserRequest r = VhostUserRequest.SetFeatures;
        ulong offered = _s.Device.OfferedFeatures;
        if ((features & ~offered) != 0)
        {
            throw new VhostProtocolException(r, "features", features,
                $"must be a subset of those offered (0x{offered:x}); extra bits 0x{features & ~offered:x}");
        }
        bool anyStarted = _s.AnyStarted();
        if (_s.FeaturesSet && anyStarted && ((features ^ _s.AckedFeatures) & ~VirtioFeatures.LogAll) != 0)
        {
            throw new VhostProtocolException(r, "features", features,
                $"only LOG_ALL may change while rings run (acked 0x{_s.AckedFeatures:x})");
        }
        bool changed = !_s.FeaturesSet || features != _s.AckedFeatures;
        _s.AckedFeatures = features;
        _s.FeaturesSet = true;
        if ((features & VirtioFeatures.ProtocolFeatures) == 0)
        {
            // Without PROTOCOL_FEATURES there is no SET_VRING_ENABLE: rings are enabled now.
            for (int i = 0; i < _s.MaxRings; i++)
            {
                _s.Vrings[i].Enabled = true;
            }
        }
        if (changed && anyStarted)
        {
            _s.Reconfigure(null);
        }
        _s.Logger.FeaturesAcked(new VirtioFeatureList(features));
    }

    public void SetProtocolFeatures(ulong features)
    {
        ulong offered = _s.Device.OfferedProtocolFeatures;
        if ((features & ~offered) != 0)
        {
            throw new VhostProtocolException(VhostUserRequest.SetProtocolFeatures, "features", features,
                $"must be a subset of those offered (0x{offered:x}); extra bits 0x{features & ~offered:x}");
        }
        _s.AckedProtocolFeatures = features;
        _s.Logger.ProtocolFeaturesAcked(new ProtocolFeatureList(features));
    }

    public void SetBackendReqFd(ReceivedMessage m)
    {
        _s.Require(VhostUserRequest.SetBackendReqFd, ProtocolFeatures.BackendReq, "BACKEND_REQ");
        if (UnixSocket.CheckForeignStream(m.Fds[0]) is { } why)
        {
            throw new VhostProtocolException(VhostUserRequest.SetBackendReqFd, "fd", $"{m.Fds[0]}", why) { Fatal = false };
        }
        // Kept for the session, never written: a net device needs no back-end requests
        // (docs/protocol.md#back-end-requests).
        LibC.CloseQuietly(_s.BackendReqFd);
        _s.BackendReqFd = m.TakeFd(0);
    }

    /// <summary>GET_INFLIGHT_FD without INFLIGHT_SHMFD (never offered, see docs/features.md):
    /// answered with mmap_size 0 and no fd, which QEMU reads as "no inflight tracking".</summary>
    public byte[] GetInflightFd()
    {
        _s.Logger.InflightNotOffered();
        return new byte[System.Runtime.CompilerServices.Unsafe.SizeOf<InflightDesc>()];
    }
}

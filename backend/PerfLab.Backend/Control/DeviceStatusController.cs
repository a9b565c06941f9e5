using PerfLab.Backend.Rings;
using PerfLab.Backend.Logging;
using PerfLab.Vhost.Protocol;

namespace PerfLab.Backend.Control;

/// <summary>
/// The device as a whole: GET/SET_STATUS (with DEVICE_NEEDS_RESET from the data plane),
/// RESET_OWNER / RESET_DEVICE, and the virtio-net requests SEND_RARP and NET_SET_MTU.
/// </summary>
internal sealed class DeviceStatusController
{
    private readonly VhostUserSession _s;

    public DeviceStatusController(VhostUserSession session) => _s = session;

    public ulong CurrentStatus() => (ulong)(_s.Status | (_s.Device.NeedsReset.IsRaised ? (byte)VirtioStatus.DeviceNeedsReset : (byte)0));

    public void SetStatus(ulong status)
    {
        const VhostUserRequest r = VhostUserRequest.SetStatus;
        _s.Require(r, ProtocolFeatures.Status, "STATUS");
        if (status > 0xFF)
        {
            throw new VhostProtocolException(r, "status", status, "is one byte");
        }
        _s.Status = (byte)status;
        if (status == 0)
        {
            _s.Device.NeedsReset.Clear();
        }
    }

    /// <summary>RESET_OWNER / RESET_DEVICE: stop and disable every ring, forget features,
    /// status, MTU and the dirty log; the connection, the ownership, the protocol features and
    /// the memory table stay (as rust-vmm), ready for the front-end to start the device again.</summary>
    public void ResetDevice(VhostUserRequest r)
    {
        _s.Reconfigure(() =>
        {
            foreach (Vring v in _s.Vrings)
            {
                v.ResetConfig();
            }
            _s.AckedFeatures = 0;
        });
        _s.FeaturesSet = false;
        _s.Status = 0;
        _s.Mtu = 0;
        _s.PendingRarp = null;
        _s.DropDirtyLog();
        _s.Device.NeedsReset.Clear();
        _s.Logger.DeviceReset(RequestNames.Of(r));
    }

    /// <summary>SEND_RARP: the next resume with pair 0 running hands the MAC to the data path,
    /// which injects one RARP frame on pair 0's RX queue as soon as a buffer is posted. If pair
    /// 0 is not running yet, the MAC waits in the session for the resume that starts it.</summary>
    public void SendRarp(ulong payload)
    {
        _s.Require(VhostUserRequest.SendRarp, ProtocolFeatures.Rarp, "RARP");
        var mac = new byte[6];
        BitConverter.TryWriteBytes(mac.AsSpan(), (uint)payload);
        BitConverter.TryWriteBytes(mac.AsSpan(4), (ushort)(payload >> 32));
        _s.PendingRarp = mac;
        _s.Reconfigure(null);
        _s.Logger.RarpQueued(new MacAddress(mac));
    }

    /// <summary>NET_SET_MTU: any Ethernet MTU from 68 (IPv4 minimum) to 65535 is accepted and
    /// kept; the loopback never needs to refuse a frame for it.</summary>
    public void SetMtu(ulong mtu)
    {
        const VhostUserRequest r = VhostUserRequest.NetSetMtu;
        _s.Require(r, ProtocolFeatures.NetMtu, "NET_MTU");
        if (mtu < 68 || mtu > 65535)
        {
            throw new VhostProtocolException(r, "mtu", mtu, "must be 68..65535") { Fatal = false };
        }
        _s.Mtu = (uint)mtu;
        _s.Logger.MtuSet(mtu);
    }
}

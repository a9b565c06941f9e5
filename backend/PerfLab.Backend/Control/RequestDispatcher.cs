using PerfLab.Backend.Logging;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;

namespace PerfLab.Backend.Control;

/// <summary>
/// The request side of a session, after rust-vmm's request handler: checks each message's
/// framing (payload size, fd count) before anything acts, hands the request to the controller
/// that owns it, and applies the reply policy: a request with a reply of its own gets it; any
/// other request with NEED_REPLY (REPLY_ACK) gets a u64 ack, 0 on success, 1 on a refusal.
/// </summary>
internal sealed class RequestDispatcher
{
    private readonly VhostUserSession _s;
    private readonly FeatureController _features;
    private readonly MemoryController _memory;
    private readonly VringController _vrings;
    private readonly DirtyLogController _log;
    private readonly DeviceStatusController _status;

    public RequestDispatcher(VhostUserSession session)
    {
        _s = session;
        _vrings = new VringController(session);
        _features = new FeatureController(session);
        _memory = new MemoryController(session, _vrings);
        _log = new DirtyLogController(session);
        _status = new DeviceStatusController(session);
    }

    public int Handled { get; private set; }

    public int Rejected { get; private set; }

    /// <summary>
    /// Handles one message and sends its reply, if any. A <see cref="VhostProtocolException"/>
    /// that escapes means the connection must be closed; a refused request whose failure can be
    /// reported (NEED_REPLY on a request without its own reply) gets a failure ack instead.
    /// Fds the controllers did not take are closed by the caller.
    /// </summary>
    public void Handle(ReceivedMessage msg, IMessageSender channel)
    {
        VhostUserHeader h = msg.Header;
        bool ownReply = HasOwnReply(h.Request);
        try
        {
            MessageCodec.ValidatePayloadSize(h);
            var (min, max) = MessageCodec.FdRange(h.Request, msg.PayloadSpan);
            if (msg.Fds.Count < min || msg.Fds.Count > max)
            {
                throw new VhostProtocolException(h.Request, "fds", (ulong)msg.Fds.Count,
                    min == max ? $"takes exactly {min}" : $"takes {min}..{max}");
            }
            byte[]? reply = Dispatch(msg);
            Handled++;
            if (ownReply)
            {
                SendReply(channel, h.Request, reply ?? []);
            }
            else if (h.NeedsReply)
            {
                SendReply(channel, h.Request, BitConverter.GetBytes(0UL));
            }
        }
        catch (VhostProtocolException e)
        {
            Rejected++;
            if (!ownReply && h.NeedsReply && !e.Fatal)
            {
                _s.Logger.RejectedWithFailureReply(e.Message);
                SendReply(channel, h.Request, BitConverter.GetBytes(1UL));
                return;
            }
            if (!ownReply && h.NeedsReply)
            {
                // Fatal: the failure ack goes out, and the caller logs the error as it closes.
                SendReply(channel, h.Request, BitConverter.GetBytes(1UL));
            }
            throw;
        }
    }

    private static void SendReply(IMessageSender ch, VhostUserRequest r, ReadOnlySpan<byte> payload) =>
        ch.SendRaw(r, VhostUserFlags.Version1 | VhostUserFlags.Reply, payload);

    /// <summary>Requests that always get a reply of their own (docs/protocol.md#front-end-requests,
    /// the "reply" column).</summary>
    public static bool HasOwnReply(VhostUserRequest r) => r is VhostUserRequest.GetFeatures
        or VhostUserRequest.GetProtocolFeatures or VhostUserRequest.GetVringBase
        or VhostUserRequest.GetQueueNum or VhostUserRequest.GetStatus
        or VhostUserRequest.GetMaxMemSlots or VhostUserRequest.GetConfig
        or VhostUserRequest.GetInflightFd or VhostUserRequest.IotlbMsg or VhostUserRequest.SetLogBase
        or VhostUserRequest.PostcopyAdvise or VhostUserRequest.PostcopyListen
        or VhostUserRequest.PostcopyEnd or VhostUserRequest.CheckDeviceState
        or VhostUserRequest.SetDeviceStateFd or VhostUserRequest.GetSharedObject
        or VhostUserRequest.GetShmemConfig;

    /// <summary>Which controller handles which request; returns the reply payload of a request
    /// that has its own reply.</summary>
    private byte[]? Dispatch(ReceivedMessage m)
    {
        VhostUserRequest r = m.Header.Request;
        ReadOnlySpan<byte> p = m.PayloadSpan;
        switch (r)
        {
            case VhostUserRequest.GetFeatures: return U64(_s.Device.OfferedFeatures);
            case VhostUserRequest.SetFeatures: _features.SetFeatures(U64(r, p)); return null;
            case VhostUserRequest.SetOwner: _s.HasOwner = true; return null;
            case VhostUserRequest.ResetOwner: _status.ResetDevice(r); return null;
            case VhostUserRequest.GetProtocolFeatures: return U64(_s.Device.OfferedProtocolFeatures);
            case VhostUserRequest.SetProtocolFeatures: _features.SetProtocolFeatures(U64(r, p)); return null;
            case VhostUserRequest.SetMemTable: _memory.SetMemTable(m); return null;
            case VhostUserRequest.SetVringNum: _vrings.SetVringNum(MessageCodec.ReadPayload<VringState>(r, p)); return null;
            case VhostUserRequest.SetVringAddr: _vrings.SetVringAddr(MessageCodec.ReadPayload<VringAddr>(r, p)); return null;
            case VhostUserRequest.SetVringBase: _vrings.SetVringBase(MessageCodec.ReadPayload<VringState>(r, p)); return null;
            case VhostUserRequest.GetVringBase: return _vrings.GetVringBase(MessageCodec.ReadPayload<VringState>(r, p));
            case VhostUserRequest.SetVringKick: _vrings.SetVringFd(r, U64(r, p), m); return null;
            case VhostUserRequest.SetVringCall: _vrings.SetVringFd(r, U64(r, p), m); return null;
            case VhostUserRequest.SetVringErr: _vrings.SetVringFd(r, U64(r, p), m); return null;
            case VhostUserRequest.GetQueueNum: _s.Require(r, ProtocolFeatures.Mq, "MQ"); return U64((ulong)_s.Device.MaxQueuePairs);
            case VhostUserRequest.SetVringEnable: _vrings.SetVringEnable(MessageCodec.ReadPayload<VringState>(r, p)); return null;
            case VhostUserRequest.SetBackendReqFd: _features.SetBackendReqFd(m); return null;
            case VhostUserRequest.GetStatus: _s.Require(r, ProtocolFeatures.Status, "STATUS"); return U64(_status.CurrentStatus());
            case VhostUserRequest.SetStatus: _status.SetStatus(U64(r, p)); return null;
            case VhostUserRequest.GetMaxMemSlots: _s.Require(r, ProtocolFeatures.ConfigureMemSlots, "CONFIGURE_MEM_SLOTS"); return U64(Vhost.Memory.MemoryTable.MaxSlots);
            case VhostUserRequest.AddMemReg: _memory.AddMemReg(m); return null;
            case VhostUserRequest.RemMemReg: _memory.RemMemReg(MessageCodec.ReadPayload<SingleMemRegion>(r, p).Region); return null;
            case VhostUserRequest.SetLogBase: _log.SetLogBase(m); return U64(0);
            case VhostUserRequest.SetLogFd: _log.SetLogFd(m); return null;
            case VhostUserRequest.SendRarp: _status.SendRarp(U64(r, p)); return null;
            case VhostUserRequest.NetSetMtu: _status.SetMtu(U64(r, p)); return null;
            case VhostUserRequest.ResetDevice: _s.Require(r, ProtocolFeatures.ResetDevice, "RESET_DEVICE"); _status.ResetDevice(r); return null;
            case VhostUserRequest.GetInflightFd: return _features.GetInflightFd();
            case VhostUserRequest.SetInflightFd:
                throw new VhostProtocolException(r, "protocol features", _s.AckedProtocolFeatures,
                    "INFLIGHT_SHMFD is not offered: a net device completes every chain it takes within one round, and a lost or repeated frame is legal for a network") { Fatal = false };
            default:
                throw new VhostProtocolException(r, "request", (ulong)r, "not supported by this back-end (its protocol feature is not offered)");
        }
    }

    private static byte[] U64(ulong v) => BitConverter.GetBytes(v);

    private static ulong U64(VhostUserRequest r, ReadOnlySpan<byte> p) => MessageCodec.ReadPayload<VhostUserU64>(r, p).Value;
}

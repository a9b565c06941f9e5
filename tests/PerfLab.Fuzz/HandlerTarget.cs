using PerfLab.Backend.Devices;
using PerfLab.Backend.Rings;
using PerfLab.Backend.Control;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Net;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;

namespace PerfLab.Fuzz;

/// <summary>
/// Target 1: the message parser and the handler. The input is a device configuration byte and
/// a sequence of records; message records go over a real socketpair with real fds
/// (<see cref="MessageChannel.Receive"/> parses them), then to
/// <see cref="VhostUserSession.Handle"/> on a real <see cref="NetDevice"/> without threads,
/// exactly as <c>VhostUserServer.ServeOne</c> does. Other records play the guest (writes into
/// its memory files), run the data path (worker rounds), or reconnect. A
/// <see cref="VhostProtocolException"/> or an I/O error ends the session as the server does
/// ("connection closed"); any other exception, a reply that breaks the protocol, an fd the
/// back-end received and did not close once the session is over, or one of the front-end's
/// own fds closed under it (a double close) is a crash.
/// <code>
/// input   := config:u8 record*
/// config  := bit 0 sink (else loopback), bit 1 no back-pressure, bits 2-3 queue pairs - 1,
///            bit 4 two pairs per worker
/// record  := 0xFF memfd:u8 offset:u32 len:u8 bytes      guest writes into a memory file
///          | 0xFE rounds:u8                              (rounds &amp; 7) + 1 worker rounds
///          | 0xFD                                        reconnect (the session ends)
///          | request:u8 flags:u8 nfds:u8 size:u16 kind:u8{nfds'} payload[size]
/// nfds'   := (nfds &amp; 0x1F) + (nfds &amp; 0x20 ? 32 : 0); kind per <see cref="FuzzFds.Make"/>
/// </code>
/// The header is request, flags and size as sent; a short payload at the end of the input is
/// a peer that closed mid-message.
/// </summary>
public static class HandlerTarget
{
    public const byte OpGuestWrite = 0xFF;
    public const byte OpRun = 0xFE;
    public const byte OpReconnect = 0xFD;

    private const int MaxRecords = 256;
    private const int MaxSessions = 4;

    public static void Run(ReadOnlySpan<byte> data)
    {
        var input = new FuzzInput(data);
        byte cfg = input.U8();
        var options = new NetDeviceOptions
        {
            Mode = (cfg & 1) != 0 ? NetMode.Sink : NetMode.Loopback,
            Backpressure = (cfg & 2) == 0,
            MaxQueuePairs = ((cfg >> 2) & 3) + 1,
            PairsPerWorker = (cfg & 0x10) != 0 ? 2 : 1,
            Batch = 32,
            Poll = new PollOptions { Mode = PollMode.Interrupt },
        };
        using var fds = new FuzzFds();
        var device = new NetDevice(options, startThreads: false);
        Vring[] vrings = Enumerable.Range(0, NetQueues.MaxRings).Select(i => new Vring(i)).ToArray();
        Session? s = null;
        int sessions = 0;
        try
        {
            for (int records = 0; records < MaxRecords && !input.AtEnd; records++)
            {
                byte op = input.U8();
                switch (op)
                {
                    case OpGuestWrite:
                    {
                        int index = input.U8();
                        uint offset = input.U32();
                        int len = input.U8();
                        fds.GuestWrite(index, offset, input.Bytes(len));
                        break;
                    }
                    case OpRun:
                    {
                        int rounds = (input.U8() & 7) + 1;
                        for (int i = 0; i < rounds; i++)
                        {
                            foreach (var w in device.Workers)
                            {
                                w.DoWork();
                            }
                        }
                        break;
                    }
                    case OpReconnect:
                        s?.Dispose();
                        s = null;
                        break;
                    default:
                        if (s == null)
                        {
                            if (sessions++ == MaxSessions)
                            {
                                records = MaxRecords; // the server would have stopped accepting
                                break;
                            }
                            s = new Session(device, vrings, fds);
                        }
                        if (!s.Message(op, ref input))
                        {
                            s.Dispose();
                            s = null;
                        }
                        break;
                }
            }
        }
        finally
        {
            s?.Dispose();
            if (Targets.Trace is { } trace)
            {
                trace($"{sessions} session(s); " + string.Join(", ", vrings.Take(2 * options.MaxQueuePairs)
                    .Select(v => $"vring {v.Index}: {v.Counters.Packets} pkts, {v.Counters.Calls} calls, {v.Counters.Faults} faults")));
            }
            device.Dispose();
        }
        fds.CheckOwnFdsIntact();
        fds.Dispose();
        fds.CheckNoLeaks();
    }

    /// <summary>One connection: the front-end's end of a socketpair, the back-end's channel and handler.</summary>
    private sealed class Session : IDisposable
    {
        private readonly MessageChannel _front;
        private readonly MessageChannel _back;
        private readonly VhostUserSession _session;
        private readonly ReceivedMessage _msg = new();
        private readonly RecordingSender _replies = new();
        private readonly FuzzFds _fds;

        public Session(NetDevice device, Vring[] vrings, FuzzFds fds)
        {
            var (a, b) = UnixSocket.Pair();
            _front = new MessageChannel(a);
            _back = new MessageChannel(b) { MidMessageTimeoutMs = 100 };
            _session = new VhostUserSession(device, vrings);
            _fds = fds;
        }

        /// <summary>Sends one message and handles it; false when the session ended.</summary>
        public bool Message(byte request, ref FuzzInput input)
        {
            var flags = (VhostUserFlags)input.U8();
            int nfds = input.U8();
            nfds = (nfds & 0x1F) + ((nfds & 0x20) != 0 ? 32 : 0);
            int size = input.U16();
            var sent = new int[nfds];
            try
            {
                for (int i = 0; i < nfds; i++)
                {
                    sent[i] = _fds.Make(input.U8());
                }
                ReadOnlySpan<byte> payload = input.Bytes(size);
                var bytes = new byte[VhostUserHeader.Size + payload.Length];
                MessageCodec.Write(bytes, (VhostUserRequest)request, flags, payload);
                // The header says what the record said, even when the input ran short.
                BitConverter.TryWriteBytes(bytes.AsSpan(8), (uint)size);
                _front.Send(bytes, sent);
                if (payload.Length < size)
                {
                    UnixSocket.Shutdown(_front.Fd); // the peer closed mid-message
                }
            }
            finally
            {
                foreach (int fd in sent)
                {
                    LibC.CloseQuietly(fd);
                }
            }
            return Receive() && Handle();
        }

        private bool Receive()
        {
            try
            {
                bool got = _back.Receive(_msg);
                _fds.Received(_msg.Fds);
                return got;
            }
            catch (Exception e) when (e is VhostProtocolException or IOException)
            {
                Targets.Trace?.Invoke($"closed: {e.Message}");
                return false; // ServeOne: protocol error or connection dropped
            }
        }

        private bool Handle()
        {
            VhostUserHeader h = _msg.Header;
            _replies.Clear();
            bool ok = true;
            try
            {
                _session.Handle(_msg, _replies);
            }
            catch (VhostProtocolException e)
            {
                ok = false; // ServeOne closes the connection
                Targets.Trace?.Invoke($"closed: {e.Message}");
            }
            finally
            {
                _msg.CloseFds();
            }
            _replies.Check(h, ok);
            return ok;
        }

        public void Dispose()
        {
            _msg.CloseFds();
            _session.Dispose();
            _back.Dispose();
            _front.Dispose();
        }
    }

    /// <summary>Records the handler's replies and checks them against the protocol.</summary>
    private sealed class RecordingSender : IMessageSender
    {
        private readonly List<(VhostUserRequest Request, VhostUserFlags Flags, int Length, int Fds)> _sent = [];

        public void SendRaw(VhostUserRequest request, VhostUserFlags flags, ReadOnlySpan<byte> payload, ReadOnlySpan<int> fds = default) =>
            _sent.Add((request, flags, payload.Length, fds.Length));

        public void Clear() => _sent.Clear();

        /// <summary>
        /// A request with a reply of its own gets exactly one when handled; a NEED_REPLY request
        /// without one gets one u64 ack whether handled or refused (a fatal refusal may close
        /// the connection instead); anything else gets none. Every reply echoes the request,
        /// carries flags 0x5, fits the payload limit and passes no fds (a net device has none).
        /// </summary>
        public void Check(in VhostUserHeader h, bool handled)
        {
            bool own = RequestDispatcher.HasOwnReply(h.Request);
            foreach (var r in _sent)
            {
                if (r.Request != h.Request || r.Flags != (VhostUserFlags.Version1 | VhostUserFlags.Reply)
                    || r.Length > VhostUserHeader.MaxPayload || r.Fds != 0)
                {
                    throw new FuzzInvariantException($"bad reply to {h}: {r}");
                }
            }
            int expected = own ? (handled ? 1 : -1) : h.NeedsReply ? (handled ? 1 : -1) : 0;
            bool fits = expected < 0 ? _sent.Count <= 1 : _sent.Count == expected;
            if (!fits)
            {
                throw new FuzzInvariantException($"{_sent.Count} replies to {h} (handled: {handled})");
            }
            if (!own && h.NeedsReply && _sent.Count == 1 && _sent[0].Length != 8)
            {
                throw new FuzzInvariantException($"REPLY_ACK to {h} is {_sent[0].Length} bytes, not a u64");
            }
        }
    }
}

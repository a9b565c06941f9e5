using Mono.Unix.Native;
using PerfLab.Backend.Devices;
using PerfLab.Backend.Server;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;

namespace PerfLab.Fuzz;

/// <summary>
/// Target 4: the server loop. A <see cref="VhostUserServer"/> per input, one device listening
/// on a real UNIX socket, as the daemon serves it: one front-end at a time, a connection made
/// while one is served refused at once (accepted and closed), with short timeouts (first
/// message 30 ms, rest of a message 20 ms). The input opens up to four connections and
/// interleaves on them raw bytes (partial headers and payloads), well-formed messages,
/// half-closes, closes, reads and pauses (which let the timeouts fire). Afterwards every
/// connection is closed: within 3 s each must be accounted for, as a session the server ended
/// or a connection it refused, and then the server must stop within 3 s; a connection neither
/// ended nor refused (a hang: a denial of service for the next front-end), a server that does
/// not stop, or an exception on the server thread is a crash. Nothing outlives the input (no fd, no thread), so replaying it in a test host
/// leaves nothing behind.
/// <code>
/// input := op*
/// op    := code:u8 args; code &amp; 7:
///          0 connect                       1 raw      conn:u8 len:u8 bytes[len]
///          2 message conn:u8 request:u8 flags:u8 len:u8 payload[len]
///          3 close conn:u8                 4 shut the write side  conn:u8
///          5 pause (code >> 3) ms          6 read what is there   conn:u8
///          7 close every connection and wait until the server ended their sessions
/// </code>
/// </summary>
public static class ServerTarget
{
    private const int MaxOps = 64;
    private const int MaxConnections = 4;
    private static readonly TimeSpan SessionsEnd = TimeSpan.FromSeconds(3);

    private sealed class Server : IDisposable
    {
        public readonly string Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"perflab-fuzz-{Environment.ProcessId}.sock");
        public readonly VhostUserServer Backend;
        private readonly Thread _thread;
        public volatile Exception? Failure;

        public Server()
        {
            Backend = new VhostUserServer(new BackendOptions
            {
                SocketPath = Path,
                StatsInterval = 0,
                FirstMessageTimeout = TimeSpan.FromMilliseconds(30),
                MidMessageTimeout = TimeSpan.FromMilliseconds(20),
                Device = new NetDeviceOptions { MaxQueuePairs = 2, Poll = new PollOptions { Mode = PollMode.Interrupt } },
            }, startWorkers: false);
            _thread = new Thread(() =>
            {
                try
                {
                    Backend.Run();
                }
                catch (Exception e)
                {
                    Failure = e;
                }
            }) { IsBackground = true, Name = "fuzz-server" };
            _thread.Start();
        }

        public void Dispose()
        {
            Backend.Stop();
            bool stopped = _thread.Join(SessionsEnd);
            Backend.Dispose();
            if (!stopped)
            {
                throw new FuzzInvariantException($"hang: the server did not stop within {SessionsEnd.TotalSeconds} s");
            }
            if (Failure != null)
            {
                throw new FuzzInvariantException($"the server loop failed: {Failure}");
            }
        }
    }

    public static void Run(ReadOnlySpan<byte> data)
    {
        using var srv = new Server();
        var input = new FuzzInput(data);
        var open = new List<int>();
        int connected = 0;
        try
        {
            for (int n = 0; n < MaxOps && !input.AtEnd; n++)
            {
                byte code = input.U8();
                switch (code & 7)
                {
                    case 0:
                        if (connected < MaxConnections) // in all: the listen backlog is 4, connect must never block
                        {
                            int fd = UnixSocket.TryConnect(srv.Path);
                            if (fd < 0)
                            {
                                throw new FuzzInvariantException($"connect failed: errno {LibC.Errno}");
                            }
                            open.Add(fd);
                            connected++;
                        }
                        break;
                    case 1:
                    {
                        int c = Pick(open, input.U8());
                        Send(c, input.Bytes(input.U8()));
                        break;
                    }
                    case 2:
                    {
                        int c = Pick(open, input.U8());
                        var request = (VhostUserRequest)input.U8();
                        var flags = (VhostUserFlags)input.U8();
                        ReadOnlySpan<byte> payload = input.Bytes(input.U8());
                        Span<byte> msg = stackalloc byte[VhostUserHeader.Size + payload.Length];
                        MessageCodec.Write(msg, request, flags | VhostUserFlags.Version1, payload);
                        Send(c, msg);
                        break;
                    }
                    case 3:
                    {
                        int i = open.Count == 0 ? -1 : input.U8() % open.Count;
                        if (i >= 0)
                        {
                            LibC.CloseQuietly(open[i]);
                            open.RemoveAt(i);
                        }
                        break;
                    }
                    case 4:
                    {
                        int c = Pick(open, input.U8());
                        if (c >= 0)
                        {
                            Syscall.shutdown(c, ShutdownOption.SHUT_WR);
                        }
                        break;
                    }
                    case 5:
                        Thread.Sleep(code >> 3);
                        break;
                    case 6:
                        Drain(Pick(open, input.U8()));
                        break;
                    default:
                        CloseAll(open);
                        WaitServed(srv, connected);
                        break;
                }
            }
        }
        finally
        {
            CloseAll(open);
        }
        WaitServed(srv, connected);
        Targets.Trace?.Invoke($"{connected} connections, {srv.Backend.SessionsServed} sessions ended, {srv.Backend.ConnectionsRefused} refused");
    }

    private static void CloseAll(List<int> open)
    {
        foreach (int fd in open)
        {
            LibC.CloseQuietly(fd);
        }
        open.Clear();
    }

    private static int Pick(List<int> open, byte i) => open.Count == 0 ? -1 : open[i % open.Count];

    private static unsafe void Send(int fd, ReadOnlySpan<byte> bytes)
    {
        if (fd < 0 || bytes.IsEmpty)
        {
            return;
        }
        fixed (byte* p = bytes)
        {
            // Never blocks: a full socket buffer (a server that does not read yet) drops the rest.
            Syscall.send(fd, p, (ulong)bytes.Length, MessageFlags.MSG_DONTWAIT | MessageFlags.MSG_NOSIGNAL);
        }
    }

    private static unsafe void Drain(int fd)
    {
        if (fd < 0)
        {
            return;
        }
        byte* b = stackalloc byte[4096];
        while (Syscall.recv(fd, b, 4096, MessageFlags.MSG_DONTWAIT) > 0)
        {
        }
    }

    /// <summary>The server accounted for all <paramref name="connections"/> connections made
    /// (all closed now): each one's session ended, or it was refused; otherwise it hangs: a crash.</summary>
    private static void WaitServed(Server srv, int connections)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (srv.Backend.SessionsServed + srv.Backend.ConnectionsRefused < connections)
        {
            if (srv.Failure != null)
            {
                throw new FuzzInvariantException($"the server loop failed: {srv.Failure}");
            }
            if (sw.Elapsed > SessionsEnd)
            {
                throw new FuzzInvariantException($"hang: {srv.Backend.SessionsServed} sessions ended and {srv.Backend.ConnectionsRefused} connections refused, {connections} connections within {SessionsEnd.TotalSeconds} s of their closing");
            }
            Thread.Sleep(1);
        }
    }
}

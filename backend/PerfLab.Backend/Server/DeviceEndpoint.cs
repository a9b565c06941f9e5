using Microsoft.Extensions.Logging;
using Mono.Unix.Native;
using PerfLab.Backend.Control;
using PerfLab.Backend.Devices;
using PerfLab.Backend.Logging;
using PerfLab.Backend.Rings;
using PerfLab.Backend.Workers;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Net;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;

namespace PerfLab.Backend.Server;

/// <summary>
/// One socket file, one virtio-net device: its rings, its memory, its sessions. A thread of its
/// own serves one front-end at a time, over a listening socket (server mode) or by connecting
/// to a listening front-end with exponential back-off (client mode, again after every
/// disconnect). Whatever its front-end does (a slow handshake, a memory change, a stall, hostile
/// input) happens on this thread and pauses only this device's queues, so other devices'
/// messages and traffic never wait for it. After each session every fd and mapping the
/// front-end gave is released, and the next connection starts from scratch. A second front-end
/// that connects while one is served is refused at once, with one log line.
/// </summary>
public sealed class DeviceEndpoint : IDisposable
{
    private readonly BackendOptions _o;
    private readonly int _wakeFd = EventFd.Create();
    private readonly CancellationTokenSource _stop = new();
    private int _listenFd = -1;
    private MessageChannel? _current;
    private Thread? _thread;
    private int _sessions;
    private int _refused;

    /// <summary>Sets the device up; in server mode binds its socket first, so that a socket in
    /// use (or not a socket) throws <see cref="IOException"/> before anything else exists.</summary>
    public DeviceEndpoint(int id, string socketPath, BackendOptions options, WorkerPool pool, QueueAssignment assignment)
    {
        Id = id;
        SocketPath = socketPath;
        _o = options;
        Logger = options.SocketPaths.Count > 1 ? Log.For($"device {id}") : Log.Default;
        if (!options.Client)
        {
            _listenFd = UnixSocket.Listen(socketPath, options.SocketMode);
            if ((options.SocketMode & FilePermissions.S_IWOTH) != 0)
            {
                Logger.SocketWorldWritable(socketPath, new Octal((uint)options.SocketMode));
            }
        }
        Device = new NetDevice(options.Device, pool, pair => pool[assignment.WorkerOf(id, pair)], Logger);
        Vrings = Enumerable.Range(0, NetQueues.MaxRings).Select(i => new Vring(i)).ToArray();
    }

    public int Id { get; }

    public string SocketPath { get; }

    public NetDevice Device { get; }

    public Vring[] Vrings { get; }

    public ILogger Logger { get; }

    /// <summary>Sessions that have ended on this device.</summary>
    public int SessionsServed => Volatile.Read(ref _sessions);

    /// <summary>Connections refused because a front-end was being served: with
    /// <see cref="SessionsServed"/>, every connection accepted is accounted for.</summary>
    public int ConnectionsRefused => Volatile.Read(ref _refused);

    /// <summary>The session in progress (tests, stats).</summary>
    public VhostUserSession? CurrentSession { get; private set; }

    /// <summary>Serves sessions on a thread of its own until <see cref="Stop"/>;
    /// <paramref name="sessionEnded"/> runs after each.</summary>
    public void Start(Action sessionEnded)
    {
        _thread = new Thread(() => Run(sessionEnded)) { IsBackground = true, Name = $"vhost-device-{Id}" };
        _thread.Start();
    }

    private void Run(Action sessionEnded)
    {
        if (_o.Client)
        {
            Logger.Connecting(SocketPath);
        }
        else
        {
            Logger.Listening(SocketPath, _o.Device.Mode.ToString().ToLowerInvariant(), _o.Device.Poll.Describe());
        }
        while (!_stop.IsCancellationRequested)
        {
            int fd = _o.Client ? ConnectWithBackoff() : UnixSocket.Accept(_listenFd, _wakeFd, -1);
            if (fd < 0)
            {
                continue;
            }
            if (Sabotage.DropConnection())
            {
                LibC.CloseQuietly(fd);
                continue;
            }
            ServeOne(fd);
            Interlocked.Increment(ref _sessions);
            sessionEnded();
        }
    }

    private int ConnectWithBackoff()
    {
        try
        {
            return UnixSocket.Connect(SocketPath, TimeSpan.FromDays(365), _o.ReconnectMin, _o.ReconnectMax, _stop.Token);
        }
        catch (IOException)
        {
            return -1;
        }
    }

    /// <summary>One session: handle messages until EOF or a fatal error, then clean up.</summary>
    private void ServeOne(int fd)
    {
        var channel = new MessageChannel(fd)
        {
            MidMessageTimeoutMs = (int)_o.MidMessageTimeout.TotalMilliseconds,
            SendTimeoutMs = _o.ReplyTimeout > TimeSpan.Zero ? (int)_o.ReplyTimeout.TotalMilliseconds : -1,
        };
        var session = new VhostUserSession(Device, Vrings, Logger);
        var msg = new ReceivedMessage();
        _current = channel;
        CurrentSession = session;
        string why = "front-end closed the connection";
        string? revoked = null;
        session.MemoryTable.OnRevoked = (r, size) =>
        {
            // On the thread that caught the fault (a worker, or this one): stop polling this
            // device's rings before the next round, then end the session like a disconnect.
            Device.Withdraw();
            Logger.GuestMemoryRevoked(r.Desc.ToString(), size, r.MappedLength);
            Volatile.Write(ref revoked, $"guest memory revoked: the front-end shrank region {r.Desc}");
            channel.Shutdown();
        };
        try
        {
            int firstTimeoutMs = _o.FirstMessageTimeout > TimeSpan.Zero ? (int)_o.FirstMessageTimeout.TotalMilliseconds : -1;
            bool first = true;
            while (!_stop.IsCancellationRequested)
            {
                if (!WaitForMessage(fd, first ? firstTimeoutMs : -1))
                {
                    throw new TimeoutException($"no message within {firstTimeoutMs} ms");
                }
                if (!channel.Receive(msg))
                {
                    break;
                }
                first = false; // QEMU may stay silent for hours once running
                try
                {
                    session.Handle(msg, channel);
                }
                finally
                {
                    msg.CloseFds();
                }
            }
        }
        catch (VhostProtocolException e)
        {
            why = $"protocol error: {e.Message}";
            Logger.ClosingOnProtocolError(why);
        }
        catch (Exception e) when (e is IOException or TimeoutException)
        {
            why = e.Message;
            Logger.ConnectionDropped(e.Message);
        }
        catch (AccessViolationException) when (GuestMemoryFaults.Catchable)
        {
            // The control plane touched a region whose file the front-end shrank (the callback
            // above reports it); anything else is a bug.
            if (!GuestMemoryFaults.TryRecover())
            {
                throw;
            }
        }
        catch (Exception e) when (e is not AccessViolationException)
        {
            // A bug, not the front-end's doing: end this session only, and say so.
            why = $"internal error: {e.GetType().Name}: {e.Message}";
            Logger.SessionFailed(e);
        }
        finally
        {
            msg.CloseFds();
            why = Volatile.Read(ref revoked) ?? why;
            try
            {
                session.Dispose();
            }
            catch (Exception e)
            {
                Logger.SessionFailed(e);
            }
            channel.Dispose();
            _current = null;
            CurrentSession = null;
            Logger.SessionEnded(why, session.Handled, session.Rejected);
            Sabotage.AfterSession();
        }
    }

    /// <summary>
    /// Waits until the session's socket is readable (a message, EOF or an error: Receive tells
    /// which). Meanwhile a front-end that connects to this device's socket is refused at once:
    /// a device serves one front-end. False on timeout.
    /// </summary>
    private bool WaitForMessage(int fd, int timeoutMs)
    {
        var fds = new Pollfd[_listenFd >= 0 ? 2 : 1];
        fds[0] = new Pollfd { fd = fd, events = PollEvents.POLLIN };
        if (_listenFd >= 0)
        {
            fds[1] = new Pollfd { fd = _listenFd, events = PollEvents.POLLIN };
        }
        long deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            int wait = timeoutMs < 0 ? -1 : (int)Math.Max(0, deadline - Environment.TickCount64);
            int n = Syscall.poll(fds, wait);
            if (n < 0 && Stdlib.GetLastError() == Errno.EINTR)
            {
                continue;
            }
            if (n <= 0)
            {
                return false;
            }
            // The session's own socket first: a front-end that closes and reconnects at once
            // has its EOF here and its new connection waiting; the EOF ends the session, and the
            // next accept takes the new connection.
            if (fds[0].revents != 0)
            {
                return true;
            }
            if (fds.Length > 1 && (fds[1].revents & PollEvents.POLLIN) != 0)
            {
                RefuseSecondFrontend();
            }
        }
    }

    private void RefuseSecondFrontend()
    {
        int c = UnixSocket.Accept(_listenFd, -1, 0);
        if (c >= 0)
        {
            LibC.CloseQuietly(c);
            Interlocked.Increment(ref _refused);
            Logger.SecondFrontendRefused(SocketPath);
        }
    }

    /// <summary>Stops serving: wakes the accept loop and ends the current session.</summary>
    public void Stop()
    {
        _stop.Cancel();
        EventFd.Signal(_wakeFd);
        _current?.Shutdown();
    }

    /// <summary>Waits for the device's thread to end (after <see cref="Stop"/>).</summary>
    public bool Join(TimeSpan timeout) => _thread?.Join(timeout) ?? true;

    public void Dispose()
    {
        Stop();
        Join(TimeSpan.FromSeconds(10));
        Device.Dispose();
        LibC.CloseQuietly(_listenFd);
        LibC.CloseQuietly(_wakeFd);
        if (!_o.Client)
        {
            try
            {
                File.Delete(SocketPath);
            }
            catch (IOException)
            {
            }
        }
    }
}

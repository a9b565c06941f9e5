using PerfLab.Backend.Devices;
using PerfLab.Backend.Rings;
using PerfLab.Backend.Control;
using PerfLab.Backend.Logging;
using PerfLab.Backend.Stats;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Net;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;

namespace PerfLab.Backend.Server;

/// <summary>
/// The back-end daemon's core: serves one front-end connection at a time, over a listening
/// socket (server mode) or by connecting to a listening front-end with exponential back-off
/// (client mode, reconnecting after every disconnect). After each session every fd and mapping
/// the front-end gave is released, and the next connection starts from scratch.
/// </summary>
public sealed class VhostUserServer : IDisposable
{
    private readonly BackendOptions _o;
    private readonly int _wakeFd = EventFd.Create();
    private readonly CancellationTokenSource _cts = new();
    private int _listenFd = -1;
    private MessageChannel? _current;
    private int _sessions;

    public VhostUserServer(BackendOptions options, bool startWorkers = true)
    {
        _o = options;
        // The socket first: if it is in use (or not a socket), nothing else was started.
        if (!options.Client)
        {
            _listenFd = UnixSocket.Listen(options.SocketPath, options.SocketMode);
            if ((options.SocketMode & Mono.Unix.Native.FilePermissions.S_IWOTH) != 0)
            {
                Log.Default.SocketWorldWritable(options.SocketPath, new Octal((uint)options.SocketMode));
            }
        }
        Device = new NetDevice(options.Device, startWorkers);
        Vrings = Enumerable.Range(0, NetQueues.MaxRings).Select(i => new Vring(i)).ToArray();
        Stats = new StatsCollector(Device, Vrings, () => Volatile.Read(ref _sessions));
        Sabotage.OnStart(Device);
    }

    public NetDevice Device { get; }

    public Vring[] Vrings { get; }

    public StatsCollector Stats { get; }

    /// <summary>Sessions that have ended.</summary>
    public int SessionsServed => Volatile.Read(ref _sessions);

    /// <summary>The session in progress (tests, diagnostics).</summary>
    public VhostUserSession? CurrentSession { get; private set; }

    public CancellationToken Stopping => _cts.Token;

    /// <summary>Serves sessions until <see cref="Stop"/> (or MaxSessions).</summary>
    public void Run()
    {
        if (_o.Client)
        {
            Log.Default.Connecting(_o.SocketPath);
        }
        else
        {
            Log.Default.Listening(_o.SocketPath, _o.Device.Mode.ToString().ToLowerInvariant(), _o.Device.Poll.Describe());
        }
        while (!_cts.IsCancellationRequested)
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
            int n = Interlocked.Increment(ref _sessions);
            if (_o.MaxSessions > 0 && n >= _o.MaxSessions)
            {
                break;
            }
        }
    }

    private int ConnectWithBackoff()
    {
        try
        {
            return UnixSocket.Connect(_o.SocketPath, TimeSpan.FromDays(365), _o.ReconnectMin, _o.ReconnectMax, _cts.Token);
        }
        catch (IOException)
        {
            return -1;
        }
    }

    /// <summary>One session: handle messages until EOF or a fatal error, then clean up.</summary>
    public void ServeOne(int fd)
    {
        var channel = new MessageChannel(fd) { MidMessageTimeoutMs = (int)_o.MidMessageTimeout.TotalMilliseconds };
        var session = new VhostUserSession(Device, Vrings);
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
            Log.Default.GuestMemoryRevoked(r.Desc.ToString(), size, r.MappedLength);
            Volatile.Write(ref revoked, $"guest memory revoked: the front-end shrank region {r.Desc}");
            channel.Shutdown();
        };
        try
        {
            channel.ReceiveTimeoutMs = _o.FirstMessageTimeout > TimeSpan.Zero ? (int)_o.FirstMessageTimeout.TotalMilliseconds : -1;
            while (!_cts.IsCancellationRequested)
            {
                if (!channel.Receive(msg))
                {
                    break;
                }
                channel.ReceiveTimeoutMs = -1; // QEMU may stay silent for hours once running
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
            Log.Default.ClosingOnProtocolError(why);
        }
        catch (Exception e) when (e is IOException or TimeoutException)
        {
            why = e.Message;
            Log.Default.ConnectionDropped(e.Message);
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
        finally
        {
            msg.CloseFds();
            why = Volatile.Read(ref revoked) ?? why;
            session.Dispose();
            channel.Dispose();
            _current = null;
            CurrentSession = null;
            Log.Default.SessionEnded(why, session.Handled, session.Rejected);
            Sabotage.AfterSession();
        }
    }

    /// <summary>Stops serving: wakes the accept loop and ends the current session.</summary>
    public void Stop()
    {
        _cts.Cancel();
        EventFd.Signal(_wakeFd);
        _current?.Shutdown();
    }

    public void Dispose()
    {
        Stop();
        Device.Dispose();
        LibC.CloseQuietly(_listenFd);
        LibC.CloseQuietly(_wakeFd);
        if (!_o.Client)
        {
            try
            {
                File.Delete(_o.SocketPath);
            }
            catch (IOException)
            {
            }
        }
    }
}

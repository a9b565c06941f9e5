using System.Text;
using Mono.Unix.Native;
using PerfLab.Backend.Logging;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Transport;

namespace PerfLab.Backend.Stats;

/// <summary>
/// The stats socket: every connection receives one JSON snapshot
/// (<see cref="Vhost.Diagnostics.BackendStats"/>) and is closed. Clients take one snapshot
/// before and one after their measured window and subtract.
/// One thread, one epoll set: every client is written to without blocking, side by side, so a
/// client that never reads holds nothing but its own socket. It is dropped, with one log line,
/// when it has not taken its whole snapshot within <see cref="WriteTimeout"/>, or when
/// <see cref="MaxPending"/> newer clients wait behind it.
/// </summary>
public sealed class StatsServer : IDisposable
{
    /// <summary>Clients being written to at once; one more drops the oldest.</summary>
    public const int MaxPending = 16;

    private const ulong WakeTag = ulong.MaxValue, ListenTag = ulong.MaxValue - 1;

    private readonly Func<byte[]> _snapshot;
    private readonly string _path;
    private readonly int _listenFd;
    private readonly int _wakeFd = EventFd.Create();
    private readonly EpollSet _epoll = new();
    private readonly List<Client> _pending = [];
    private readonly Thread _thread;
    private volatile bool _stop;
    private int _served, _dropped;

    public StatsServer(StatsCollector collector, string path)
        : this(() => Encoding.UTF8.GetBytes(collector.Snapshot().ToJson()), path)
    {
    }

    /// <summary>Serves what <paramref name="snapshot"/> returns, once per connection.</summary>
    public StatsServer(Func<byte[]> snapshot, string path, TimeSpan? writeTimeout = null)
    {
        _snapshot = snapshot;
        _path = path;
        WriteTimeout = writeTimeout ?? TimeSpan.FromSeconds(2);
        _listenFd = UnixSocket.Listen(path, backlog: 64);
        _epoll.Add(_wakeFd, WakeTag);
        _epoll.Add(_listenFd, ListenTag);
        HeapProbe.Install(); // SIGUSR1: the snapshots then report the live heap
        _thread = new Thread(Run) { IsBackground = true, Name = "stats-socket" };
        _thread.Start();
    }

    /// <summary>A client must have read its whole snapshot within this time of connecting.</summary>
    public TimeSpan WriteTimeout { get; }

    /// <summary>Snapshots delivered whole.</summary>
    public int Served => Volatile.Read(ref _served);

    /// <summary>Clients dropped before they took their whole snapshot.</summary>
    public int Dropped => Volatile.Read(ref _dropped);

    /// <summary>Clients being written to now.</summary>
    public int Pending => Volatile.Read(ref _pendingCount);

    private int _pendingCount;

    private sealed class Client(int fd, byte[] data, long deadline)
    {
        public readonly int Fd = fd;
        public readonly byte[] Data = data;
        public readonly long Deadline = deadline;
        public int Done;
    }

    private void Run()
    {
        while (!_stop)
        {
            // Everything this thread allocates is the stats machinery's, not the data plane's.
            StatsCollector.Accounted(() =>
            {
                Step();
                return 0;
            });
        }
        foreach (Client c in _pending)
        {
            LibC.CloseQuietly(c.Fd);
        }
        _pending.Clear();
    }

    private void Step()
    {
        Span<ulong> ready = stackalloc ulong[16];
        int timeout = -1;
        if (_pending.Count > 0)
        {
            long ms = (_pending.Min(c => c.Deadline) - Environment.TickCount64) + 1;
            timeout = (int)Math.Clamp(ms, 0, int.MaxValue);
        }
        int n = _epoll.Wait(ready, timeout);
        for (int i = 0; i < n && !_stop; i++)
        {
            if (ready[i] == WakeTag)
            {
                EventFd.Drain(_wakeFd);
            }
            else if (ready[i] == ListenTag)
            {
                AcceptOne();
            }
            else if (Find((int)ready[i]) is { } c)
            {
                Write(c);
            }
        }
        long now = Environment.TickCount64;
        foreach (Client c in _pending.Where(c => now >= c.Deadline).ToList())
        {
            Drop(c, $"did not read its snapshot within {WriteTimeout.TotalSeconds:0.###} s");
        }
    }

    private Client? Find(int fd) => _pending.Find(c => c.Fd == fd);

    private void AcceptOne()
    {
        int fd = Syscall.accept4(_listenFd, new SockaddrUn(), UnixSocketFlags.SOCK_CLOEXEC | UnixSocketFlags.SOCK_NONBLOCK);
        if (fd < 0)
        {
            return;
        }
        byte[] data;
        try
        {
            data = _snapshot();
        }
        catch (Exception e)
        {
            Log.Default.StatsSocketFailed(e.Message);
            LibC.CloseQuietly(fd);
            return;
        }
        if (_pending.Count >= MaxPending)
        {
            Drop(_pending[0], $"was still unread when {MaxPending} newer clients were waiting");
        }
        var c = new Client(fd, data, Environment.TickCount64 + (long)WriteTimeout.TotalMilliseconds);
        _pending.Add(c);
        Volatile.Write(ref _pendingCount, _pending.Count);
        if (Write(c))
        {
            _epoll.Add(fd, (ulong)fd, LibC.EPOLLOUT);
        }
    }

    /// <summary>Writes what the socket takes now; true while the client still has bytes to get.</summary>
    private unsafe bool Write(Client c)
    {
        while (c.Done < c.Data.Length)
        {
            nint n;
            fixed (byte* p = c.Data)
            {
                n = LibC.write(c.Fd, p + c.Done, c.Data.Length - c.Done);
            }
            if (n > 0)
            {
                c.Done += (int)n;
                continue;
            }
            int e = LibC.Errno;
            if (n < 0 && e == LibC.EINTR)
            {
                continue;
            }
            if (n < 0 && e == LibC.EAGAIN)
            {
                return true; // the client's buffer is full: epoll says when it drains
            }
            Close(c); // the client went away: nothing to report
            return false;
        }
        Close(c);
        Interlocked.Increment(ref _served);
        return false;
    }

    private void Drop(Client c, string why)
    {
        Log.Default.StatsClientDropped(why, c.Done, c.Data.Length);
        Close(c);
        Interlocked.Increment(ref _dropped);
    }

    private void Close(Client c)
    {
        _epoll.Remove(c.Fd);
        LibC.CloseQuietly(c.Fd);
        _pending.Remove(c);
        // Published before Served or Dropped moves: a reader that saw either move also sees this
        // client gone from Pending.
        Volatile.Write(ref _pendingCount, _pending.Count);
    }

    public void Dispose()
    {
        _stop = true;
        EventFd.Signal(_wakeFd);
        _thread.Join(2000);
        _epoll.Dispose();
        LibC.CloseQuietly(_listenFd);
        LibC.CloseQuietly(_wakeFd);
        try
        {
            File.Delete(_path);
        }
        catch (IOException)
        {
        }
    }
}

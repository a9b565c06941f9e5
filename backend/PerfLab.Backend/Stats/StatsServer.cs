using System.Text;
using PerfLab.Backend.Logging;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Transport;

namespace PerfLab.Backend.Stats;

/// <summary>
/// The stats socket: every connection receives one JSON snapshot
/// (<see cref="Vhost.Diagnostics.BackendStats"/>) and is closed. Clients take one snapshot
/// before and one after their measured window and subtract.
/// </summary>
public sealed class StatsServer : IDisposable
{
    private readonly StatsCollector _collector;
    private readonly string _path;
    private readonly int _listenFd;
    private readonly int _wakeFd = EventFd.Create();
    private readonly Thread _thread;
    private volatile bool _stop;

    public StatsServer(StatsCollector collector, string path)
    {
        _collector = collector;
        _path = path;
        _listenFd = UnixSocket.Listen(path);
        _thread = new Thread(Run) { IsBackground = true, Name = "stats-socket" };
        _thread.Start();
    }

    private void Run()
    {
        while (!_stop)
        {
            // Everything this thread allocates is the stats machinery's, not the data plane's.
            StatsCollector.Accounted(() =>
            {
                ServeOne();
                return 0;
            });
        }
    }

    private unsafe void ServeOne()
    {
        {
            int fd = UnixSocket.Accept(_listenFd, _wakeFd, -1);
            if (fd < 0)
            {
                return;
            }
            try
            {
                byte[] json = Encoding.UTF8.GetBytes(_collector.Snapshot().ToJson());
                fixed (byte* p = json)
                {
                    int done = 0;
                    while (done < json.Length)
                    {
                        nint n = LibC.write(fd, p + done, json.Length - done);
                        if (n < 0 && LibC.Errno == LibC.EINTR)
                        {
                            continue;
                        }
                        if (n <= 0)
                        {
                            break;
                        }
                        done += (int)n;
                    }
                }
            }
            catch (Exception e)
            {
                Log.Default.StatsSocketFailed(e.Message);
            }
            finally
            {
                LibC.CloseQuietly(fd);
            }
        }
    }

    public void Dispose()
    {
        _stop = true;
        EventFd.Signal(_wakeFd);
        _thread.Join(2000);
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

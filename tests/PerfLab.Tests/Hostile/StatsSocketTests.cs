using PerfLab.Backend.Stats;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Transport;
using Xunit;

namespace PerfLab.Tests.Hostile;

/// <summary>
/// Hostile clients of the stats socket: one that connects and never reads its snapshot holds
/// nothing but its own socket. Other clients are served at once, and it is dropped with one log
/// line after the write timeout, or when too many newer clients wait behind it. The snapshot
/// here is 8 MiB, far more than a socket buffer holds, so a blocking write would stall.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class StatsSocketTests(HostileBackend backend)
{
    private static readonly byte[] s_big = new byte[8 << 20];

    private static byte[] ReadAll(int fd)
    {
        using var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: false), FileAccess.Read, 1);
        using var ms = new MemoryStream();
        stream.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>A client that reads its whole snapshot, bounded.</summary>
    private static byte[] Fetch(string path, string what)
    {
        byte[] got = [];
        Timeouts.Run(Timeouts.Short, () =>
        {
            int fd = Connect(path);
            got = ReadAll(fd);
            LibC.close(fd);
        }, what);
        return got;
    }

    private static int Connect(string path)
    {
        int fd = UnixSocket.TryConnect(path);
        Assert.True(fd >= 0, $"cannot connect to {path}");
        return fd;
    }

    [Fact]
    public void AClientThatNeverReadsDoesNotDelayTheNext()
    {
        using var dir = new TempDir();
        string path = dir.File("stats.sock");
        using var server = new StatsServer(() => s_big, path, writeTimeout: TimeSpan.FromMinutes(10));
        int silent = Connect(path);
        try
        {
            Assert.True(Timeouts.WaitUntil(() => server.Pending == 1, Timeouts.Short), "the silent client was never accepted");
            Assert.Equal(s_big.Length, Fetch(path, "a reading client behind a silent one").Length);
            // The server counts a client served after its last write returns, which can be just
            // after the client has read everything.
            Assert.True(Timeouts.WaitUntil(() => server.Served == 1, Timeouts.Short), $"served {server.Served}");
            Assert.Equal(0, server.Dropped);
            Assert.Equal(1, server.Pending); // the silent one still waits, alone
        }
        finally
        {
            LibC.close(silent);
        }
    }

    [Fact]
    public void AClientThatNeverReadsIsDroppedAfterTheTimeoutWithOneLogLine()
    {
        using var dir = new TempDir();
        string path = dir.File("stats.sock");
        backend.ClearLog();
        using var server = new StatsServer(() => s_big, path, writeTimeout: TimeSpan.FromMilliseconds(200));
        int silent = Connect(path);
        try
        {
            Assert.True(Timeouts.WaitUntil(() => server.Dropped == 1, Timeouts.Short), "the silent client was not dropped");
            Assert.Equal(0, server.Pending);
            CaseRunner.AssertOneLine(backend, ["stats socket: a client did not read its snapshot within 0.2 s", "of 8388608 bytes taken); dropped"]);
            // What it gets now is a part of the snapshot, then the end of the stream.
            byte[] part = [];
            Timeouts.Run(Timeouts.Short, () => part = ReadAll(silent), "reading the dropped client's socket to EOF");
            Assert.InRange(part.Length, 1, s_big.Length - 1);
        }
        finally
        {
            LibC.close(silent);
        }
    }

    [Fact]
    public void ManySilentClientsDropTheOldestAndTheNextReaderIsServed()
    {
        using var dir = new TempDir();
        string path = dir.File("stats.sock");
        backend.ClearLog();
        using var server = new StatsServer(() => s_big, path, writeTimeout: TimeSpan.FromMinutes(10));
        var silent = new List<int>();
        try
        {
            int n = StatsServer.MaxPending + 4;
            for (int i = 0; i < n; i++)
            {
                silent.Add(Connect(path));
            }
            Assert.True(Timeouts.WaitUntil(() => server.Dropped == 4 && server.Pending == StatsServer.MaxPending, Timeouts.Short),
                $"dropped {server.Dropped}, pending {server.Pending}");
            Assert.Equal(4, backend.LogLines.Count(l => l.Contains($"newer clients were waiting", StringComparison.Ordinal)));
            Assert.Equal(s_big.Length, Fetch(path, "a reading client behind many silent ones").Length);
        }
        finally
        {
            silent.ForEach(fd => LibC.close(fd));
        }
    }
}

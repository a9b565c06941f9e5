using System.Collections.Concurrent;
using PerfLab.Backend.Devices;
using PerfLab.Backend.Logging;
using PerfLab.LoadGen;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Polling;
using Xunit;

namespace PerfLab.Tests.Hostile;

/// <summary>
/// The one back-end every hostile case runs against, in this process, over a real UNIX socket,
/// with two queue pairs and a sleeping strategy. Cases run one after another on the same
/// instance, so each one also proves that the cases before it left nothing behind. A second
/// device of the same back-end, on its own socket and sharing its workers, carries a
/// <see cref="Bystander"/>'s traffic throughout: no case may disturb it. Captures the log, and
/// snapshots this process's fds and guest-memory mappings.
/// </summary>
public sealed class HostileBackend : IDisposable
{
    public const int QueuePairs = 2;

    private readonly ConcurrentQueue<string> _log = new();

    public HostileBackend()
    {
        Log.Sink = _log.Enqueue;
        Be = new InProcessBackend(
            new NetDeviceOptions { MaxQueuePairs = QueuePairs, Poll = new PollOptions { Mode = PollMode.Interrupt } },
            o => o with
            {
                FirstMessageTimeout = TimeSpan.FromSeconds(1),
                MidMessageTimeout = TimeSpan.FromMilliseconds(300),
                SocketPaths = [o.SocketPath, Path.Combine(Path.GetDirectoryName(o.SocketPath)!, "bystander.sock")],
            });
        // A first session makes the runtime open whatever it opens lazily (sockets, epoll,
        // mappings), so that the snapshots of the cases compare like with like.
        GoodSession();
        Bystander = new Bystander(Be.Options.SocketPaths[1]);
    }

    /// <summary>Traffic on the other device, for the whole suite.</summary>
    public Bystander Bystander { get; }

    /// <summary>Sessions ended on the device under attack.</summary>
    public int SessionsServed => Be.Server.Devices[0]!.SessionsServed;

    public InProcessBackend Be { get; }

    public string SocketPath => Be.SocketPath;

    public IReadOnlyList<string> LogLines => _log.ToArray();

    public void ClearLog() => _log.Clear();

    /// <summary>Waits until the back-end has ended <paramref name="sessions"/> sessions in all
    /// and serves none.</summary>
    public void WaitSessions(int sessions)
    {
        Assert.True(Timeouts.WaitUntil(() => SessionsServed >= sessions && Be.Server.CurrentSession == null, Timeouts.Short),
            $"the back-end ended {SessionsServed} sessions, {sessions} expected, and {(Be.Server.CurrentSession == null ? "serves none" : "still serves one")}");
    }

    /// <summary>A good session: full handshake, verified traffic, disconnect; the back-end must
    /// end it cleanly.</summary>
    public void GoodSession(bool packed = false)
    {
        int before = SessionsServed;
        Timeouts.Run(Timeouts.Process, () =>
        {
            using var gen = new LoadGenerator(Traffic.Quick(SocketPath) with { DurationS = 0.1, WarmupS = 0.02, Packed = packed });
            gen.Setup();
            Traffic.AssertIntact(gen.Run());
        }, "good session");
        WaitSessions(before + 1);
    }

    public void Dispose()
    {
        Bystander.Dispose();
        Be.Dispose();
        Log.Sink = null;
    }
}

[CollectionDefinition(Name)]
public sealed class HostileCollection : ICollectionFixture<HostileBackend>
{
    public const string Name = "hostile";
}

/// <summary>What this process holds that a session could leak: open fds, and mappings of
/// memory files other than the runtime's own (doublemapper, dotnet-*).</summary>
public sealed record Resources(IReadOnlyList<string> Fds, IReadOnlyList<string> MemfdMaps)
{
    public static Resources Take()
    {
        // Handles that earlier tests dropped without disposing close in finalizers, at any
        // time: let them close now, so that they are not taken for a case's leak or recovery.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var fds = new List<string>();
        foreach (string f in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                string target = new FileInfo(f).LinkTarget ?? "?";
                if (!target.EndsWith(".dll", StringComparison.Ordinal))
                {
                    fds.Add(target); // the runtime keeps assemblies it loads lazily open
                }
            }
            catch (IOException)
            {
                // closed while listing (the listing's own fd, a racing close)
            }
        }
        var maps = File.ReadAllLines("/proc/self/maps")
            .Where(l => l.Contains("/memfd:", StringComparison.Ordinal) && !l.Contains("doublemapper", StringComparison.Ordinal) && !l.Contains("memfd:dotnet", StringComparison.Ordinal))
            .ToList();
        return new Resources(fds, maps);
    }

    /// <summary>No leak: no more fds (compared by count: the listing itself opens one, reused by
    /// number) and no more guest-memory mappings than <paramref name="before"/>. Fewer is no
    /// leak: a test running in parallel (another collection) may close what it held.</summary>
    public bool HoldsNoMoreThan(Resources before) => Fds.Count <= before.Fds.Count && MemfdMaps.Count <= before.MemfdMaps.Count;

    public string Diff(Resources before)
    {
        static IEnumerable<string> Minus(IEnumerable<string> a, IEnumerable<string> b)
        {
            var rest = b.ToList();
            foreach (string x in a)
            {
                if (!rest.Remove(x))
                {
                    yield return x;
                }
            }
        }
        return $"fds {before.Fds.Count} -> {Fds.Count} (new: {string.Join(", ", Minus(Fds, before.Fds))}; gone: {string.Join(", ", Minus(before.Fds, Fds))}); " +
               $"memfd mappings {before.MemfdMaps.Count} -> {MemfdMaps.Count} (new: {string.Join(" | ", Minus(MemfdMaps, before.MemfdMaps))})";
    }
}

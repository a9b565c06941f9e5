using Mono.Unix.Native;
using PerfLab.Vhost.Interop;

namespace PerfLab.Vhost.Memory;

/// <summary>
/// The defence against a front-end that shrinks a memory file under running rings
/// (docs/robustness.md#a-front-end-that-shrinks-guest-memory). Touching a mapped page past the
/// file's new end raises SIGBUS; the runtime turns it into an <see cref="AccessViolationException"/>
/// on the faulting thread when <see cref="EnvVar"/> is 1 (the daemon makes sure it is:
/// <see cref="EnsureCatchable"/>). The thread that caught it calls <see cref="TryRecover"/>:
/// every live region whose file is now shorter than its mapping is revoked: its mapping is
/// replaced in place by anonymous memory (so the thread can resume its loop and touch it
/// harmlessly until its session's rings stop), and its owner is told, once, to end the session.
/// Nothing here runs while frames flow: the hot path stays syscall-free; the cost is paid only
/// after a fault.
/// </summary>
public static class GuestMemoryFaults
{
    /// <summary>The runtime knob (read at start-up only) that makes a fault on a mapped page a
    /// catchable exception instead of the process's end.</summary>
    public const string EnvVar = "DOTNET_legacyCorruptedStateExceptionsPolicy";

    // Regions mapped and not yet unmapped. The lock also orders a revocation against an unmap:
    // the anonymous overlay is placed only over a mapping that still exists (MAP_FIXED over an
    // address range reused since would destroy someone else's memory).
    private static readonly List<MappedRegion> s_live = [];
    private static readonly object s_lock = new();
    private static int s_revoked;

    /// <summary>True if this process turns guest-memory faults into exceptions.</summary>
    public static bool Catchable => Environment.GetEnvironmentVariable(EnvVar) == "1";

    /// <summary>Regions revoked since the process started.</summary>
    public static int Revoked => Volatile.Read(ref s_revoked);

    internal static void Add(MappedRegion r)
    {
        lock (s_lock)
        {
            s_live.Add(r);
        }
    }

    /// <summary>Unregisters a region and runs <paramref name="unmap"/> under the lock.</summary>
    internal static void Remove(MappedRegion r, Action unmap)
    {
        lock (s_lock)
        {
            s_live.Remove(r);
            unmap();
        }
    }

    /// <summary>
    /// After a fault on guest memory: revokes every live region whose file shrank below its
    /// mapping. False if none did (the fault was not a front-end's doing: a bug, let it crash).
    /// </summary>
    public static bool TryRecover()
    {
        var revoked = new List<(MappedRegion Region, long Size)>();
        lock (s_lock)
        {
            foreach (MappedRegion r in s_live)
            {
                if (!r.IsRevoked && r.FileSize() is long size && (ulong)size < r.MappedLength && r.Overlay())
                {
                    revoked.Add((r, size));
                }
            }
        }
        foreach ((MappedRegion r, long size) in revoked)
        {
            Interlocked.Increment(ref s_revoked);
            r.OnRevoked?.Invoke(r, size);
        }
        return revoked.Count > 0;
    }

    /// <summary>
    /// Seals a memory file against shrinking (F_SEAL_SHRINK), when the file allows it (a memfd
    /// created with MFD_ALLOW_SEALING and not sealed against sealing): from then on a front-end's
    /// ftruncate below the size fails, and the fault cannot happen. False if the file cannot be
    /// sealed (another memfd, tmpfs or hugetlbfs file): <see cref="TryRecover"/> is then the defence.
    /// </summary>
    public static bool SealAgainstShrinking(int fd)
    {
        int seals = LibC.fcntl(fd, LibC.F_GET_SEALS, 0);
        if (seals < 0)
        {
            return false; // not a memfd (EINVAL)
        }
        if ((seals & LibC.F_SEAL_SHRINK) != 0)
        {
            return true;
        }
        return (seals & LibC.F_SEAL_SEAL) == 0 && LibC.fcntl(fd, LibC.F_ADD_SEALS, LibC.F_SEAL_SHRINK) == 0;
    }

    /// <summary>
    /// For a daemon's Main, first thing: if <see cref="EnvVar"/> is not 1, runs this same
    /// program again (execve: same pid, same fds) with it set, so that a fault on guest memory is
    /// catchable. Returns only when it is (or when execve failed: then faults stay fatal).
    /// </summary>
    public static void EnsureCatchable()
    {
        if (Catchable)
        {
            return;
        }
        string[] argv = File.ReadAllText("/proc/self/cmdline").Split('\0', StringSplitOptions.None);
        argv = argv[..^1]; // the list ends with a NUL
        var env = Environment.GetEnvironmentVariables().Keys.Cast<string>()
            .Select(k => $"{k}={Environment.GetEnvironmentVariable(k)}")
            .Append($"{EnvVar}=1").ToArray();
        LibC.Execve("/proc/self/exe", argv, env);
    }
}

using PerfLab.Backend.Devices;
using PerfLab.Backend.Logging;
using PerfLab.Backend.Workers;
using PerfLab.Vhost.Interop;

namespace PerfLab.Backend.Server;

/// <summary>
/// TEST ONLY. Deliberately broken back-end behaviour, so that the self-tests of scripts/chaos
/// and scripts/soak can show that each of their verdicts fails when it should
/// (tests/PerfLab.Tests/Hostile/ScriptVerdictTests.cs). Chosen with the environment variable
/// <c>PERFLAB_BACKEND_SABOTAGE</c>, a comma-separated list; never set it for real use: the
/// daemon says so in a warning at start. Nothing here runs on the data path.
/// </summary>
public static class Sabotage
{
    public const string EnvVar = "PERFLAB_BACKEND_SABOTAGE";

    [Flags]
    public enum Kind
    {
        None = 0,
        /// <summary>Every session leaves one fd open.</summary>
        LeakFd = 1,
        /// <summary>Every session leaves one thread behind.</summary>
        LeakThread = 2,
        /// <summary>64 KiB of managed memory kept every 100 ms, for good.</summary>
        LeakManaged = 4,
        /// <summary>Two seconds after the first rings start, worker 0 crashes (its thread ends).</summary>
        CrashWorker = 8,
        /// <summary>Every connection is closed unserved, without a session.</summary>
        DropSessions = 16,
    }

    public static readonly IReadOnlyDictionary<string, Kind> Names = new Dictionary<string, Kind>
    {
        ["leak-fd"] = Kind.LeakFd,
        ["leak-thread"] = Kind.LeakThread,
        ["leak-managed"] = Kind.LeakManaged,
        ["crash-worker"] = Kind.CrashWorker,
        ["drop-sessions"] = Kind.DropSessions,
    };

    public static Kind Active { get; } = Parse(Environment.GetEnvironmentVariable(EnvVar));

    private static readonly List<object> s_kept = [];

    public static Kind Parse(string? value)
    {
        Kind k = Kind.None;
        foreach (string n in (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            k |= Names.TryGetValue(n, out Kind one) ? one
                : throw new ArgumentException($"{EnvVar}: unknown sabotage '{n}' (known: {string.Join(", ", Names.Keys)})");
        }
        return k;
    }

    private static bool Has(Kind k) => (Active & k) != 0;

    /// <summary>At the daemon's start: warns, starts the managed leak, arms the worker crash.</summary>
    public static void OnStart(NetDevice device)
    {
        if (Active == Kind.None)
        {
            return;
        }
        Log.Default.SabotageActive(EnvVar, Environment.GetEnvironmentVariable(EnvVar) ?? "");
        if (Has(Kind.LeakManaged))
        {
            new Thread(() =>
            {
                while (true)
                {
                    lock (s_kept)
                    {
                        s_kept.Add(new byte[64 << 10]);
                    }
                    Thread.Sleep(100);
                }
            }) { IsBackground = true, Name = "sabotage-leak-managed" }.Start();
        }
        if (Has(Kind.CrashWorker))
        {
            new Thread(() =>
            {
                while (device.Workers.All(w => w.ActivePairCount == 0))
                {
                    Thread.Sleep(50);
                }
                Thread.Sleep(2000);
                device.Workers[0].Register(typeof(Sabotage), [new CrashingPoller()]);
            }) { IsBackground = true, Name = "sabotage-crash-worker" }.Start();
        }
    }

    /// <summary>True if the connection must be dropped unserved (the caller closes it).</summary>
    public static bool DropConnection() => Has(Kind.DropSessions);

    /// <summary>After a session ended.</summary>
    public static void AfterSession()
    {
        if (Has(Kind.LeakFd))
        {
            lock (s_kept)
            {
                s_kept.Add(LibC.dup(0));
            }
        }
        if (Has(Kind.LeakThread))
        {
            new Thread(() => Thread.Sleep(Timeout.Infinite)) { IsBackground = true, Name = "sabotage-leak-thread" }.Start();
        }
    }

    /// <summary>A poller whose first poll throws: the worker's runner logs the crash and ends.</summary>
    private sealed class CrashingPoller : QueuePoller
    {
        public override object Owner => typeof(Sabotage);

        public override int Poll() => throw new InvalidOperationException($"{EnvVar}=crash-worker");

        public override bool Arm(int kickAhead) => true;

        public override void Disarm()
        {
        }

        public override bool MustPoll => true;

        public override int KickFdCount => 0;

        public override int KickFd(int i) => -1;

        public override bool OnKick(int i, bool drain) => false;
    }
}

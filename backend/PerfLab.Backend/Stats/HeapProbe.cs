using System.Runtime.InteropServices;

namespace PerfLab.Backend.Stats;

/// <summary>
/// The live managed heap on request: SIGUSR1 makes the daemon run one full, blocking,
/// compacting GC and record how much survived (<see cref="LiveBytes"/>); the stats snapshots
/// report it with the number of such forced collections, so that a reader can tell them from
/// the process's own GCs. scripts/soak and scripts/chaos probe at their baseline and at the
/// end: growth of the live heap is a managed leak, whatever garbage sat uncollected between.
/// Installed with the stats socket (<see cref="StatsServer"/>).
/// </summary>
public static class HeapProbe
{
    public const int SigUsr1 = 10;

    private static int s_forced;
    private static long s_live = -1;
    private static PosixSignalRegistration? s_registration;
    private static readonly object s_lock = new();

    /// <summary>GCs this probe forced (each counts in every generation's collection count).</summary>
    public static int ForcedCollections => Volatile.Read(ref s_forced);

    /// <summary>Bytes alive after the last forced GC (-1: none yet).</summary>
    public static long LiveBytes => Interlocked.Read(ref s_live);

    /// <summary>Handles SIGUSR1 from now on (idempotent).</summary>
    public static void Install()
    {
        lock (s_lock)
        {
            s_registration ??= PosixSignalRegistration.Create((PosixSignal)SigUsr1, c =>
            {
                c.Cancel = true;
                Collect();
            });
        }
    }

    /// <summary>One forced full GC; records what survived.</summary>
    public static void Collect()
    {
        lock (s_lock)
        {
            // Aggressive: also returns the freed memory to the OS, so RSS read after a probe is
            // live data, not garbage a GC has yet to run over.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            Interlocked.Exchange(ref s_live, GC.GetTotalMemory(forceFullCollection: false));
            Interlocked.Increment(ref s_forced);
        }
    }
}

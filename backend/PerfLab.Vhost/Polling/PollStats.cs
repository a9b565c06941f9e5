using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PerfLab.Vhost.Polling;

/// <summary>
/// What one loop's idle strategy decided: its sleeps by length, the arms that found work
/// pending, and, for hybrid, the current budget, the notify-poll window, the probes it ran, its naps and its kick batching. Written by the loop's
/// thread only and read racily by the stats reader (aligned 64-bit values on x86-64); padded so
/// that two loops' stats never share a cache line.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 64 + 13 * 8 + 64)]
public sealed class PollStats
{
    /// <summary>Sleeps by length, from arming to running again, in power-of-two µs buckets:
    /// [0,1), [1,2), [2,4), ... [512,1024), [1024,∞). Under a flow the other side notifies at
    /// once, so a sleep lasts about one wake-up of a halted vCPU: this is the wake-up latency.
    /// (The reference sits in the leading padding; only this loop writes the buckets.)</summary>
    [FieldOffset(0)] public readonly long[] SleepHistogram = new long[Buckets];

    /// <summary>Armed, and the re-check found work: no sleep.</summary>
    [FieldOffset(64)] public long ArmsFoundWork;

    /// <summary>Total time asleep, ns.</summary>
    [FieldOffset(72)] public long SleptNs;

    /// <summary>Hybrid: the current poll budget, ns.</summary>
    [FieldOffset(80)] public long BudgetNs;

    /// <summary>Hybrid: polls after notifying a sleeping peer, and probes after a wake-up.</summary>
    [FieldOffset(88)] public long NotifyPolls;
    [FieldOffset(96)] public long WakeProbes;

    /// <summary>Sleeps in all (the histogram's total).</summary>
    [FieldOffset(104)] public long Sleeps;

    /// <summary>Hybrid: the current notify-poll window, ns (it follows the wake-ups seen).</summary>
    [FieldOffset(112)] public long NotifyWindowNs;

    /// <summary>Hybrid with naps: timed naps taken with notifications off, and those after
    /// which the loop found work (<see cref="NapBudget"/>). Not in the sleep histogram, which
    /// stays the notified wake-ups.</summary>
    [FieldOffset(120)] public long Naps;
    [FieldOffset(128)] public long NapsFoundWork;

    /// <summary>Hybrid with a kick batch (<see cref="KickBatch"/>): sleeps armed a batch ahead
    /// with a timeout, those the timeout ended, and those timeouts after which work was found.
    /// The coalesced sleeps are in the histogram too (they last a batch, not a wake-up).</summary>
    [FieldOffset(136)] public long CoalescedSleeps;
    [FieldOffset(144)] public long KickTimeouts;
    [FieldOffset(152)] public long KickTimeoutsFoundWork;

    /// <summary>Hybrid with a kick batch: buffers per kick now (it follows the rate with a fill
    /// target).</summary>
    [FieldOffset(160)] public long KickBatch;

    public const int Buckets = 12;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void RecordSleep(long ns)
    {
        Sleeps++;
        SleptNs += ns;
        SleepHistogram[BucketOf(ns)]++;
    }

    public static int BucketOf(long ns)
    {
        long us = ns / 1000;
        return us <= 0 ? 0 : Math.Min(Buckets - 1, 64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)us));
    }

    /// <summary>The bucket's range in µs, as the stats and reports print it: "0-1", "1-2", ... "1024+".</summary>
    public static string BucketLabel(int i) =>
        i == Buckets - 1 ? $"{1 << (i - 1)}+" : i == 0 ? "0-1" : $"{1 << (i - 1)}-{1 << i}";

    /// <summary>The sleep length below which a fraction <paramref name="q"/> of sleeps fall, µs:
    /// the upper edge of the bucket that holds it (0 when there were no sleeps).</summary>
    public static double QuantileUs(IReadOnlyList<long> histogram, double q)
    {
        long total = 0;
        foreach (long c in histogram)
        {
            total += c;
        }
        if (total == 0)
        {
            return 0;
        }
        long rank = (long)Math.Ceiling(q * total);
        long seen = 0;
        for (int i = 0; i < histogram.Count; i++)
        {
            seen += histogram[i];
            if (seen >= rank)
            {
                return i == histogram.Count - 1 ? double.PositiveInfinity : 1 << i;
            }
        }
        return double.PositiveInfinity;
    }
}

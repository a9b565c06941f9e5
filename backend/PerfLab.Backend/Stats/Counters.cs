using System.Runtime.InteropServices;

namespace PerfLab.Backend.Stats;

/// <summary>
/// Per-queue counters. Written by one worker thread, read (racily, which is fine for aligned
/// 64-bit values on x86-64) by the stats thread. Explicit layout with 64-byte padding on both
/// sides keeps two queues' counters, updated by two workers, off each other's cache lines.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 64 + 12 * 8 + 64)]
public sealed class QueueCounters
{
    [FieldOffset(64)] public long Packets;
    [FieldOffset(72)] public long Bytes;
    [FieldOffset(80)] public long Batches;
    [FieldOffset(88)] public long Kicks;
    [FieldOffset(96)] public long Calls;
    [FieldOffset(104)] public long CallsSuppressed;
    [FieldOffset(112)] public long Rejected;
    [FieldOffset(120)] public long Dropped;
    [FieldOffset(128)] public long RxFull;
    [FieldOffset(136)] public long Faults;
    [FieldOffset(144)] public long Truncated;
    [FieldOffset(152)] public long Reserved;

    /// <summary>Batch sizes in power-of-two buckets: [1], [2,3], [4,7], ... [128,∞). (The
    /// reference sits in the leading padding; the counters it points to are written only by
    /// the worker too.)</summary>
    [FieldOffset(0)] public readonly long[] BatchHistogram = new long[BatchBuckets];

    public const int BatchBuckets = 8;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void RecordBatch(int n, long bytes)
    {
        Packets += n;
        Bytes += bytes;
        Batches++;
        int b = 31 - System.Numerics.BitOperations.LeadingZeroCount((uint)n);
        BatchHistogram[b < BatchBuckets ? b : BatchBuckets - 1]++;
    }

    public static string BucketLabel(int i) =>
        i == BatchBuckets - 1 ? $"{1 << i}+" : i == 0 ? "1" : $"{1 << i}-{(2 << i) - 1}";
}

/// <summary>Per-worker counters: polling and time accounting (same padding rule).</summary>
[StructLayout(LayoutKind.Explicit, Size = 64 + 8 * 8 + 64)]
public sealed class WorkerCounters
{
    [FieldOffset(64)] public long Rounds;
    [FieldOffset(72)] public long EmptyPolls;
    [FieldOffset(80)] public long Wakeups;
    [FieldOffset(88)] public long BusyTicks;
    [FieldOffset(96)] public long Sleeps;
    [FieldOffset(104)] public long SpuriousWakeups;
    /// <summary>What the worker thread allocated (its GC.GetAllocatedBytesForCurrentThread()
    /// since it started: the control plane builds everything a worker adopts), refreshed at
    /// most every 10 ms and before every sleep. Must stay 0.</summary>
    [FieldOffset(112)] public long AllocatedBytes;
    [FieldOffset(120)] public long AllocatedAtStart;
}

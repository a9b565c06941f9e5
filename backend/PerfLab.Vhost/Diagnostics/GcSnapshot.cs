namespace PerfLab.Vhost.Diagnostics;

/// <summary>GC collection counts and allocated bytes at one instant; subtract two for a window.</summary>
public readonly record struct GcSnapshot(int Gen0, int Gen1, int Gen2, long AllocatedBytes)
{
    /// <summary>Process-wide snapshot (allocated bytes are precise, all threads).</summary>
    public static GcSnapshot Take() => new(
        GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalAllocatedBytes(precise: true));

    public static GcSnapshot operator -(GcSnapshot a, GcSnapshot b) =>
        new(a.Gen0 - b.Gen0, a.Gen1 - b.Gen1, a.Gen2 - b.Gen2, a.AllocatedBytes - b.AllocatedBytes);

    public override string ToString() => $"gen0={Gen0} gen1={Gen1} gen2={Gen2} allocated={AllocatedBytes}B";
}

using Xunit;

namespace PerfLab.Tests.Infrastructure;

/// <summary>Zero allocation on the calling thread: warm a loop up (tiering promotes it between
/// rounds), then run it once more and assert that the thread allocated exactly 0 bytes.</summary>
public static class AllocationProbe
{
    /// <summary><paramref name="iterate"/>(n) runs n iterations and returns its error count.</summary>
    public static void AssertNone(Func<int, int> iterate, int warmupIterations, int measuredIterations)
    {
        int errors = 0;
        for (int round = 0; round < 3; round++)
        {
            errors += iterate(warmupIterations);
            Thread.Sleep(300); // let tiering promote the loop
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        errors += iterate(measuredIterations);
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0, errors);
        Assert.Equal(0L, after - before);
    }
}

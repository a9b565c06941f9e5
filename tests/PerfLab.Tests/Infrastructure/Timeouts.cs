namespace PerfLab.Tests.Infrastructure;

/// <summary>Every cross-thread or cross-process wait in the tests is bounded by one of these.</summary>
public static class Timeouts
{
    public static readonly TimeSpan Short = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan Process = TimeSpan.FromSeconds(60);

    /// <summary>Runs <paramref name="action"/> on a thread and fails the test if it takes longer
    /// than <paramref name="limit"/>. The thread is abandoned (background) if it hangs.</summary>
    public static void Run(TimeSpan limit, Action action, string what)
    {
        Exception? error = null;
        var t = new Thread(() =>
        {
            try
            {
                action();
            }
            catch (Exception e)
            {
                error = e;
            }
        }) { IsBackground = true, Name = what };
        t.Start();
        if (!t.Join(limit))
        {
            throw new TimeoutException($"{what} did not finish within {limit.TotalSeconds:F0} s");
        }
        if (error != null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
        }
    }

    /// <summary>Polls <paramref name="condition"/> until true or the limit passes.</summary>
    public static bool WaitUntil(Func<bool> condition, TimeSpan limit)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (sw.Elapsed < limit)
        {
            if (condition())
            {
                return true;
            }
            Thread.Sleep(5);
        }
        return condition();
    }
}

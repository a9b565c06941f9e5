using PerfLab.Backend.Logging;
using PerfLab.Tests.Infrastructure;
using Xunit;

namespace PerfLab.Tests.Hostile;

/// <summary>
/// What every hostile case checks around its own assertions: it runs bounded (no hang), the
/// back-end ends exactly the sessions expected, the log holds exactly one line naming what was
/// wrong, another device of the same back-end kept its traffic going without an error, a good
/// session on the same back-end works afterwards, and this process holds no more fds or
/// guest-memory mappings than before the case.
/// </summary>
public static class CaseRunner
{
    public static void Run(HostileBackend f, string name, int sessions, string[]? log, Action body)
    {
        f.WaitSessions(f.SessionsServed);
        Resources before = Resources.Take();
        int s0 = f.SessionsServed;
        long bystanderRuns = f.Bystander.Runs;
        f.ClearLog();
        Log.ResetRateLimit();

        try
        {
            Timeouts.Run(Timeouts.Short, body, name);
        }
        catch (Exception e) when (e is TimeoutException or IOException)
        {
            throw new Xunit.Sdk.XunitException($"{name}: {e.Message}; log:\n{string.Join("\n", f.LogLines)}");
        }

        f.WaitSessions(s0 + sessions);
        Assert.Equal(s0 + sessions, f.SessionsServed);
        // Whatever the case did to its device, the other device's traffic went on untouched.
        f.Bystander.AssertUndisturbed(bystanderRuns);
        if (log != null)
        {
            AssertOneLine(f, log);
        }
        f.GoodSession();

        Resources after = Resources.Take();
        Timeouts.WaitUntil(() => (after = Resources.Take()).HoldsNoMoreThan(before), TimeSpan.FromSeconds(3));
        Assert.True(after.HoldsNoMoreThan(before), $"{name}: leaked {after.Diff(before)}");
    }

    /// <summary>A table's case names as theory data; a name used twice is an error (the
    /// theory finds its case by name).</summary>
    public static TheoryData<string> Names(IEnumerable<string> names)
    {
        var d = new TheoryData<string>();
        var seen = new HashSet<string>();
        foreach (string n in names)
        {
            if (!seen.Add(n))
            {
                throw new InvalidOperationException($"two cases are named \"{n}\"");
            }
            d.Add(n);
        }
        return d;
    }

    /// <summary>Exactly one warning or error line contains every fragment.</summary>
    public static void AssertOneLine(HostileBackend f, string[] fragments)
    {
        IReadOnlyList<string> lines = f.LogLines;
        var hits = lines.Where(l => (l.Contains("[error]", StringComparison.Ordinal) || l.Contains("[warn]", StringComparison.Ordinal))
            && fragments.All(x => l.Contains(x, StringComparison.Ordinal))).ToList();
        Assert.True(hits.Count == 1,
            $"expected one log line with [{string.Join("] [", fragments)}], found {hits.Count}; log:\n{string.Join("\n", lines)}");
    }
}

using PerfLab.LoadGen;
using PerfLab.Vhost.Polling;
using Xunit;

namespace PerfLab.Tests.Infrastructure;

/// <summary>Short, verified load-generator runs for tests: a sleeping strategy (never two busy
/// pollers on a 2-core box), every payload byte checked.</summary>
public static class Traffic
{
    public static LoadGenOptions Quick(string socket) => new()
    {
        SocketPath = socket,
        DurationS = 0.3,
        WarmupS = 0.05,
        Poll = new PollOptions { Mode = PollMode.Interrupt },
        ConnectTimeoutS = 5,
        Verify = true,
    };

    /// <summary>Every frame sent came back once, in order, intact, and no ring broke.</summary>
    public static void AssertIntact(LoadGenResult r)
    {
        Assert.True(r.Received > 100, $"only {r.Received} frames came back");
        Assert.Equal(0, r.Lost);
        Assert.Equal(0, r.SeqErrors);
        Assert.Equal(0, r.VerifyErrors);
        Assert.Equal(0, r.Corrupt);
        Assert.Equal(0, r.BadLength);
        Assert.Equal(0, r.BadIds);
        Assert.Equal(0, r.RingErrors);
    }
}

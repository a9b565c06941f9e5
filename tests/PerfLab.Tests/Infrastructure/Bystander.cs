using PerfLab.LoadGen;
using Xunit;

namespace PerfLab.Tests.Infrastructure;

/// <summary>
/// A front-end on another device of the same back-end that keeps moving verified traffic in
/// short runs on one session, on a thread of its own, while a test does something to a
/// different device; <see cref="AssertUndisturbed"/> says whether it ever saw an error or
/// stopped making progress. The rate is low: it proves isolation, not speed.
/// </summary>
public sealed class Bystander : IDisposable
{
    private readonly LoadGenerator _gen;
    private readonly Thread _thread;
    private volatile bool _stop;
    private volatile string? _error;
    private long _runs;

    public Bystander(string socket)
    {
        _gen = new LoadGenerator(Traffic.Quick(socket) with { DurationS = 0.05, WarmupS = 0, RatePps = 20_000 });
        _gen.Setup();
        _thread = new Thread(Loop) { IsBackground = true, Name = "bystander" };
        _thread.Start();
    }

    public long Runs => Interlocked.Read(ref _runs);

    private void Loop()
    {
        while (!_stop && _error == null)
        {
            try
            {
                LoadGenResult r = _gen.Run();
                if (r.Lost != 0 || r.SeqErrors != 0 || r.VerifyErrors != 0 || r.Corrupt != 0 || r.BadLength != 0 || r.BadIds != 0 || r.RingErrors != 0 || r.Received == 0)
                {
                    _error = $"run {Runs}: received {r.Received}, lost {r.Lost}, seq {r.SeqErrors}, verify {r.VerifyErrors}, corrupt {r.Corrupt}, ring errors {r.RingErrors}";
                }
                Interlocked.Increment(ref _runs);
            }
            catch (Exception e)
            {
                _error = $"run {Runs}: {e.GetType().Name}: {e.Message}";
            }
        }
    }

    /// <summary>No error so far, and at least one more complete run after <paramref name="runsBefore"/>.</summary>
    public void AssertUndisturbed(long runsBefore)
    {
        Assert.True(Timeouts.WaitUntil(() => Runs > runsBefore || _error != null, Timeouts.Short), "the bystander made no progress");
        Assert.True(_error == null, $"the bystander on another device saw: {_error}");
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join(Timeouts.Short);
        _gen.Dispose();
    }
}

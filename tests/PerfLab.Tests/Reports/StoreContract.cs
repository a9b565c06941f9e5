using PerfLab.Reports.Model;
using PerfLab.Reports.Store;
using Xunit;

namespace PerfLab.Tests.Reports;

/// <summary>
/// What every results-store back-end must do, written once: StoreSqliteTests and
/// StorePostgresTests run each case against a fresh store of their kind.
/// </summary>
public static class StoreContract
{
    /// <summary>A run written is read back equal: facts, configurations, rounds, every finite
    /// sample, trials and percentiles.</summary>
    public static void RoundTrip(StoreLocation at)
    {
        Report r = SampleData.Create();
        r.Trials.Add(new TrialRecord { Round = 1, ConfigId = "busy-64", Kind = "search", Point = "", IntendedMpps = 12.5, DurationS = 0.5, Offered = 6_250_000, Received = 6_249_000, LossRatio = 1.6e-4, ForwardingMpps = 12.498 });
        r.Trials.Add(new TrialRecord { Round = 2, ConfigId = "hybrid-64", Kind = "load", Point = "50", IntendedMpps = double.NaN, DurationS = 1, Offered = 1, Received = 1, LossRatio = 0, ForwardingMpps = 5 });
        long id;
        using (ResultsStore s = ResultsStore.Open(at))
        {
            (id, bool existed) = s.Record(r, "/reports/x");
            Assert.False(existed);
            Assert.Equal(Migrations.Latest, s.Version());
        }
        using (ResultsStore s = ResultsStore.Open(at, create: false))
        {
            AssertSameRun(r, s.Load(id));
            StoredRun listed = Assert.Single(s.Runs());
            Assert.Equal((id, "testhost", "Test CPU | with a pipe", "abc1234", false, "near", "/reports/x"),
                (listed.Id, listed.Host, listed.CpuModel, listed.GitCommit, listed.GitDirty, listed.C2cClass, listed.Source));
            // The same run again (the bench, then an import of its folder) is stored once.
            Assert.Equal((id, true), s.Record(r, "/elsewhere"));
            Assert.Single(s.Runs());
            Assert.Single(s.Runs(host: "testhost", configId: "hybrid-64"));
            Assert.Empty(s.Runs(host: "otherhost"));
            Assert.Empty(s.Runs(configId: "dpdk-64"));
            Assert.Contains("no run 999", Assert.Throws<StoreException>(() => s.Load(999)).Message);
        }
    }

    public static void AssertSameRun(Report expected, Report actual)
    {
        Assert.Equal(expected.Run.Facts.Select(f => (f.Key, f.Value)), actual.Run.Facts.Select(f => (f.Key, f.Value)));
        Assert.Equal(expected.Configs.Select(Describe), actual.Configs.Select(Describe));
        Assert.Equal(expected.Rounds.Select(x => (x.Round, x.StartedUtc, x.C2cNs, x.C2cClass, x.Flagged, x.Order)),
            actual.Rounds.Select(x => (x.Round, x.StartedUtc, x.C2cNs, x.C2cClass, x.Flagged, x.Order)));
        static IEnumerable<string> Samples(Report r) => r.Samples
            .SelectMany(s => s.Values.Where(kv => double.IsFinite(kv.Value)).Select(kv => $"{s.Round}|{s.ConfigId}|{s.Position}|{kv.Key}|{kv.Value:R}"))
            .Order(StringComparer.Ordinal);
        Assert.Equal(Samples(expected), Samples(actual));
        Assert.Equal(expected.Trials.Select(t => $"{t.Round}|{t.ConfigId}|{t.Kind}|{t.Point}|{t.IntendedMpps:R}|{t.DurationS:R}|{t.Offered}|{t.Received}|{t.LossRatio:R}|{t.ForwardingMpps:R}"),
            actual.Trials.Select(t => $"{t.Round}|{t.ConfigId}|{t.Kind}|{t.Point}|{t.IntendedMpps:R}|{t.DurationS:R}|{t.Offered}|{t.Received}|{t.LossRatio:R}|{t.ForwardingMpps:R}"));
        Assert.Equal(expected.Percentiles.Select(p => (p.ConfigId, p.Load, p.Percentile, p.LatencyNs, p.CountAtOrBelow)),
            actual.Percentiles.Select(p => (p.ConfigId, p.Load, p.Percentile, p.LatencyNs, p.CountAtOrBelow)));
    }

    private static string Describe(ConfigInfo c) =>
        string.Join('|', c.Id, c.Label, c.Peer, c.BackendPoll, c.GuestPoll, c.FrameSize, c.QueueSize, c.Burst, c.Ring, c.Pairs, c.Mergeable, c.Devices, c.BackendArgs, c.Reference);

    /// <summary>Writers at once, each its own connection: every run stored whole, with its own id.</summary>
    public static void ConcurrentWriters(StoreLocation at)
    {
        const int writers = 4;
        using (ResultsStore.Open(at))
        {
            // Created first, so the writers race on runs, not on the schema (that race is MigrationsRace).
        }
        var ids = new long[writers];
        RunAtOnce(writers, i =>
        {
            Report r = SampleData.Create();
            r.Run.Set(RunInfo.Title, $"writer {i}");
            using ResultsStore s = ResultsStore.Open(at);
            ids[i] = s.Record(r, $"/w{i}").Id;
        });
        Assert.Equal(writers, ids.Distinct().Count(i => i > 0));
        using ResultsStore check = ResultsStore.Open(at, create: false);
        Assert.Equal(writers, check.Runs().Count);
        foreach (long id in ids)
        {
            Report back = check.Load(id);
            Assert.Equal(SampleData.Create().Samples.Sum(s => s.Values.Count(kv => double.IsFinite(kv.Value))), back.Samples.Sum(s => s.Values.Count));
        }
    }

    /// <summary>Processes opening a new store at once: one creates the schema, the others wait and find it.</summary>
    public static void MigrationsRace(StoreLocation at)
    {
        RunAtOnce(3, _ =>
        {
            using ResultsStore s = ResultsStore.Open(at);
        });
        using ResultsStore check = ResultsStore.Open(at, create: false);
        Assert.Equal(Migrations.Latest, check.Version());
    }

    /// <summary>Runs <paramref name="n"/> threads released together; fails with the first
    /// thread's exception, or when one has not finished in 120 s.</summary>
    private static void RunAtOnce(int n, Action<int> body)
    {
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        using var go = new ManualResetEventSlim();
        var threads = Enumerable.Range(0, n).Select(i => new Thread(() =>
        {
            try
            {
                go.Wait();
                body(i);
            }
            catch (Exception e)
            {
                errors.Enqueue(e);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        go.Set();
        Assert.All(threads, t => Assert.True(t.Join(TimeSpan.FromSeconds(120)), "a thread did not finish in 120 s"));
        Assert.True(errors.IsEmpty, string.Join("\n", errors));
    }

    /// <summary>A store left at schema version 1 (samples only) is brought to the latest on
    /// first use, its runs intact and still comparable.</summary>
    public static void MigratesFromThePreviousVersion(StoreLocation at)
    {
        Report r = SampleData.Create();
        long id;
        using (ResultsStore old = ResultsStore.Open(at, upTo: 1))
        {
            Assert.Equal(1, old.Version());
            id = old.Record(r, "/old").Id;
        }
        using ResultsStore s = ResultsStore.Open(at);
        Assert.Equal(1, s.FoundVersion);
        Assert.Equal(Migrations.Latest, s.Version());
        Report back = s.Load(id);
        AssertSameRun(new Report { Run = r.Run, Configs = r.Configs, Rounds = r.Rounds, Samples = r.Samples }, back);
        // New runs get the new columns; the old run is still found by its id.
        long id2 = s.Record(r, "/new").Id;
        Assert.NotEqual(id, id2);
        Assert.Equal(2, s.Runs().Count);
    }

    /// <summary>A store written by a newer PerfLab is refused and left as it was.</summary>
    public static void RefusesANewerSchema(StoreLocation at, Action<StoreLocation, string> execute)
    {
        using (ResultsStore s = ResultsStore.Open(at))
        {
            s.Record(SampleData.Create(), "/x");
        }
        execute(at, $"INSERT INTO {Migrations.VersionTable} (version, applied_utc, tool) VALUES ({Migrations.Latest + 1}, 'later', 'a newer perflab-report')");
        var e = Assert.Throws<StoreException>(() => ResultsStore.Open(at));
        Assert.Contains($"schema version {Migrations.Latest + 1}, newer than this perflab-report knows ({Migrations.Latest})", e.Message);
        Assert.Contains("left untouched", e.Message);
        execute(at, $"DELETE FROM {Migrations.VersionTable} WHERE version > {Migrations.Latest}");
        using ResultsStore again = ResultsStore.Open(at, create: false);
        Assert.Single(again.Runs());
    }
}

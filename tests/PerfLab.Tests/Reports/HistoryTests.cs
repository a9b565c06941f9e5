using PerfLab.Reports.Compare;
using PerfLab.Reports.Model;
using PerfLab.Reports.Store;
using PerfLab.Tests.Infrastructure;
using Xunit;
using Cli = PerfLab.Reports.Cli.Program;

namespace PerfLab.Tests.Reports;

/// <summary>history over several stored runs flags the injected regression and nothing else.</summary>
public class HistoryTests
{
    [Fact]
    public void Flags_the_injected_regression_and_nothing_else()
    {
        using var tmp = new TempDir();
        string db = tmp.File("results.db");
        using (ResultsStore s = ResultsStore.Open(StoreLocation.Sqlite(db)))
        {
            for (int i = 1; i <= 5; i++)
            {
                Report r = SampleData.Create();
                r.Run.Set(RunInfo.Title, $"run {i}");
                r.Run.Set(RunInfo.GitCommit, $"c{i}");
                if (i >= 4)
                {
                    // From run 4 on, hybrid's PDR drops by 20 % (and stays there: run 5 is not a regression against 4).
                    foreach (RoundSample x in r.Samples.Where(x => x.ConfigId == "hybrid-64"))
                    {
                        x.Values[Metrics.PdrMpps] *= 0.8;
                    }
                }
                s.Record(r, $"/run{i}");
            }
            var loaded = s.Runs().Select(r => (r, s.Load(r.Id))).ToList();
            var histories = RunHistory.Build(loaded, null, null, 0.05);
            var flagged = histories.SelectMany(h => h.Points.SelectMany(p => p.Regressions.Select(m => (h.ConfigId, p.Run.Id, m)))).ToList();
            Assert.Equal([("hybrid-64", 4L, Metrics.PdrMpps)], flagged);
            string md = HistoryMarkdown.Build(histories, 0.05, "test");
            Assert.Contains("**1 regression**", md);
            Assert.Contains("run 4 (c4)", md);
        }
        string outDir = tmp.File("hist");
        // The latest run did not regress against its predecessor: exit 0; the plots are written.
        Assert.Equal(Cli.Ok, Cli.Main(["history", "--store", db, "--out", outDir]));
        Assert.True(File.Exists(Path.Combine(outDir, HistoryMarkdown.FileName)));
        Assert.True(File.Exists(Path.Combine(outDir, "history-hybrid-64.png")));
        Assert.Equal(Cli.Ok, Cli.Main(["history", "--store", db, "--config", "busy-64", "--host", "testhost"]));
        Assert.Equal(Cli.BadInput, Cli.Main(["history", "--store", db, "--host", "nohost"]));
        Assert.Equal(Cli.BadInput, Cli.Main(["history", "--store", tmp.File("none.db")]));
    }
}

using System.Text.Json;
using PerfLab.Reports.Compare;
using PerfLab.Reports.Csv;
using PerfLab.Reports.Model;
using PerfLab.Tests.Infrastructure;
using Xunit;
using Cli = PerfLab.Reports.Cli.Program;

namespace PerfLab.Tests.Reports;

/// <summary>compare's statistics on synthetic samples, and the command's pages and exit codes
/// on report folders.</summary>
public class CompareTests
{
    /// <summary>Six rounds around <paramref name="center"/>, spread ±<paramref name="spread"/> (relative), deterministic.</summary>
    private static double[] Rounds(double center, double spread, int seed = 1)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, 6).Select(_ => center * (1 + spread * (2 * rng.NextDouble() - 1))).ToArray();
    }

    [Fact]
    public void A_ten_percent_shift_with_little_noise_is_slower_at_five_percent()
    {
        RatioResult thr = RatioTest.Of(Rounds(10, 0.01), Rounds(9, 0.01, 2), Better.Higher, 0.05);
        Assert.Equal(Verdict.Slower, thr.Verdict);
        Assert.InRange(thr.Ratio, 0.88, 0.92);
        Assert.True(thr.RatioHigh < 1 && thr.RatioLow > 0.85, $"interval {thr.RatioLow}-{thr.RatioHigh}");
        // Latency: higher is worse, so +10 % is slower and -10 % faster.
        Assert.Equal(Verdict.Slower, RatioTest.Of(Rounds(20, 0.01), Rounds(22, 0.01, 2), Better.Lower, 0.05).Verdict);
        Assert.Equal(Verdict.Faster, RatioTest.Of(Rounds(20, 0.01), Rounds(18, 0.01, 2), Better.Lower, 0.05).Verdict);
        Assert.Equal(Verdict.Faster, RatioTest.Of(Rounds(10, 0.01), Rounds(11, 0.01, 2), Better.Higher, 0.05).Verdict);
    }

    [Fact]
    public void The_same_shift_inside_wide_noise_is_noise()
    {
        RatioResult r = RatioTest.Of(Rounds(10, 0.4), Rounds(9, 0.4, 2), Better.Higher, 0.05);
        Assert.Equal(Verdict.Noise, r.Verdict);
        Assert.True(r.RatioLow < 1 && r.RatioHigh > 1, $"interval {r.RatioLow}-{r.RatioHigh} should contain 1");
    }

    [Fact]
    public void A_page_whose_every_judged_row_is_noise_gives_no_geometric_mean()
    {
        var def = new MetricDef(Metrics.NdrMpps, "NDR", "Mpps", Better.Higher);
        var cmp = new Comparison { BaseName = "b", CandidateName = "c", Base = new Report(), Candidate = new Report(), Threshold = 0.05 };
        cmp.Rows.Add(new ComparisonRow("busy-64", "busy", Metrics.NdrMpps, def, RatioTest.Of(Rounds(10, 0.4), Rounds(9, 0.4, 2), Better.Higher, 0.05)));
        cmp.Rows.Add(new ComparisonRow("hybrid-64", "hybrid", Metrics.NdrMpps, def, RatioTest.Of(Rounds(10, 0.4), Rounds(12, 0.4, 3), Better.Higher, 0.05)));
        Assert.All(cmp.Rows, r => Assert.Equal(Verdict.Noise, r.Verdict));
        Assert.True(double.IsNaN(cmp.GeometricMeanGain));
        Assert.Contains("every judged row is noise", cmp.Summary());
        // One row that is shown to be the same makes the mean a statement again.
        cmp.Rows.Add(new ComparisonRow("busy-1500", "busy 1500", Metrics.NdrMpps, def, RatioTest.Of(Rounds(10, 0.01), Rounds(10, 0.01, 2), Better.Higher, 0.05)));
        Assert.True(double.IsFinite(cmp.GeometricMeanGain));
    }

    [Fact]
    public void Identical_samples_are_the_same_and_a_small_shift_below_the_threshold_too()
    {
        double[] x = Rounds(10, 0.01);
        RatioResult same = RatioTest.Of(x, x, Better.Higher, 0.05);
        Assert.Equal(Verdict.Same, same.Verdict);
        Assert.Equal(1.0, same.Ratio, 12);
        Assert.Equal(1.0, same.PValue, 6);
        Assert.Equal(Verdict.Same, RatioTest.Of(Rounds(10, 0.005), Rounds(10.1, 0.005, 2), Better.Higher, 0.05).Verdict);
    }

    [Fact]
    public void Counts_too_few_rounds_and_non_positive_values_are_not_judged()
    {
        Assert.Equal(Verdict.NotJudged, RatioTest.Of([14, 14, 14], [20, 20, 20], Better.Neither, 0.05).Verdict);
        Assert.Equal(Verdict.NotJudged, RatioTest.Of([10, 10.1], [5, 5.1], Better.Higher, 0.05).Verdict);
        Assert.Equal(Verdict.NotJudged, RatioTest.Of([0, 0, 0, 0], [0, 0, 0, 0], Better.Lower, 0.05).Verdict);
        Assert.Equal(Verdict.NotJudged, RatioTest.Of([1, 2, 3], [], Better.Lower, 0.05).Verdict);
    }

    [Fact]
    public void Mann_Whitney_is_exact_for_small_samples()
    {
        // 3 against 3, completely separated: 1 arrangement of C(6,3) = 20.
        Assert.Equal(1.0 / 20, MannWhitney.PGreater([4, 5, 6], [1, 2, 3]), 12);
        Assert.Equal(1.0, MannWhitney.PGreater([1, 2, 3], [4, 5, 6]), 12);
        Assert.Equal(2.0 / 20, MannWhitney.PTwoSided([4, 5, 6], [1, 2, 3]), 12);
        double[] cdf = MannWhitney.Cdf(6, 6);
        Assert.Equal(1.0 / 924, cdf[0], 12);
        Assert.Equal(1.0, cdf[^1], 12);
        // The shift interval of x = y + 5 contains 5 and lies within the pairwise differences.
        var (lo, hi, cov) = MannWhitney.ShiftInterval([6, 7, 8, 9, 10, 11], [1, 2, 3, 4, 5, 6], 0.025);
        Assert.True(lo <= 5 && 5 <= hi && lo >= 0 && hi <= 10, $"{lo}..{hi}");
        Assert.True(cov >= 0.95);
    }

    /// <summary>Two report folders of <see cref="SampleData"/>; the candidate's NDR of busy-64
    /// scaled by <paramref name="ndrScale"/>; the candidate's host renamed when asked.</summary>
    private static (string Base, string Cand) Folders(TempDir tmp, double ndrScale, string? candHost = null, Action<Report>? edit = null)
    {
        string b = Path.Combine(tmp.Path, "base"), c = Path.Combine(tmp.Path, "cand");
        ReportCsv.Write(SampleData.Create(), b);
        Report cand = SampleData.Create();
        // A slower busy-64 as a code change makes it: every figure of it worse by the same factor
        // (one row moved alone is not judged among many: FalseDiscovery).
        foreach (RoundSample s in cand.Samples.Where(s => s.ConfigId == "busy-64"))
        {
            foreach (string m in s.Values.Keys.ToList())
            {
                s.Values[m] = Metrics.Def(m).Better switch
                {
                    Better.Higher => s.Values[m] * ndrScale,
                    Better.Lower => s.Values[m] / ndrScale,
                    _ => s.Values[m],
                };
            }
        }
        if (candHost != null)
        {
            cand.Run.Set(RunInfo.Host, candHost);
        }
        edit?.Invoke(cand);
        ReportCsv.Write(cand, c);
        return (b, c);
    }

    [Fact]
    public void Exit_code_is_0_without_a_regression_1_with_one_and_2_on_bad_input()
    {
        using var tmp = new TempDir();
        var (b, same) = Folders(tmp, 1.0);
        Assert.Equal(Cli.Ok, Cli.Main(["compare", b, same]));
        var (_, slower) = Folders(tmp, 0.85);
        Assert.Equal(Cli.Failed, Cli.Main(["compare", b, slower]));
        Assert.Equal(Cli.Ok, Cli.Main(["compare", b, slower, "--threshold", "20%"]));
        Assert.Equal(Cli.BadInput, Cli.Main(["compare", b, Path.Combine(tmp.Path, "nowhere")]));
        Assert.Equal(Cli.BadInput, Cli.Main(["compare", b, slower, "--threshold", "five"]));
        Assert.Equal(Cli.BadInput, Cli.Main(["compare", b, slower, "--metric", "no_such_metric"]));
        File.Delete(Path.Combine(slower, ReportCsv.RoundsFile));
        Assert.Equal(Cli.BadInput, Cli.Main(["compare", b, slower]));
    }

    [Fact]
    public void Runs_of_another_host_or_c2c_class_are_refused_unless_forced()
    {
        using var tmp = new TempDir();
        var (b, c) = Folders(tmp, 0.85, candHost: "otherhost");
        Assert.Equal(Cli.BadInput, Cli.Main(["compare", b, c]));
        Assert.Equal(Cli.Failed, Cli.Main(["compare", b, c, "--force"]));
        var refused = Assert.Throws<CompareRefusedException>(() => RunComparer.Compare(ReportCsv.Read(b), ReportCsv.Read(c), "b", "c", new CompareOptions()));
        Assert.Contains("different host (testhost vs otherhost)", refused.Message);
        Comparison forced = RunComparer.Compare(ReportCsv.Read(b), ReportCsv.Read(c), "b", "c", new CompareOptions(Force: true));
        Assert.Contains("different host", CompareMarkdown.Build(forced));

        // Every round far instead of near: another c2c class.
        var (b2, far) = Folders(tmp, 1.0, edit: r =>
        {
            foreach (RoundInfo x in r.Rounds)
            {
                x.C2cNs = 400;
                x.C2cClass = PerfLab.Reports.Statistics.C2cClass.Far;
                x.Flagged = false;
            }
        });
        var e = Assert.Throws<CompareRefusedException>(() => RunComparer.Compare(ReportCsv.Read(b2), ReportCsv.Read(far), "b", "c", new CompareOptions()));
        Assert.Contains("c2c class (near vs far)", e.Message);
    }

    [Fact]
    public void The_page_puts_the_regression_first_lists_configurations_of_one_run_and_sums_up()
    {
        using var tmp = new TempDir();
        var (b, c) = Folders(tmp, 0.85, edit: r =>
        {
            r.Configs.RemoveAll(x => x.Id == "busy-1500");
            r.Samples.RemoveAll(x => x.ConfigId == "busy-1500");
            r.Configs.Add(new ConfigInfo { Id = "busy-512", Label = "busy / busy, 512 B" });
        });
        Comparison cmp = RunComparer.Compare(ReportCsv.Read(b), ReportCsv.Read(c), "base", "cand", new CompareOptions());
        ComparisonRow first = cmp.Rows[0];
        Assert.Equal(("busy-64", Metrics.NdrMpps, Verdict.Slower), (first.ConfigId, first.Metric, first.Verdict));
        Assert.All(cmp.Rows.Where(r => r.Verdict == Verdict.Slower), r => Assert.Equal("busy-64", r.ConfigId));
        Assert.Equal(["busy-1500"], cmp.OnlyInBase);
        Assert.Equal(["busy-512"], cmp.OnlyInCandidate);
        Assert.True(cmp.Regressed);
        Assert.True(cmp.GeometricMeanGain < 1);
        string md = CompareMarkdown.Build(cmp);
        Assert.Contains("**Regressed**", md);
        Assert.Contains("Only in the base (base), not compared: busy-1500", md);
        Assert.Contains("Only in the candidate (cand), not compared: busy-512", md);
        Assert.Contains("geometric mean", md);
        // Every default metric of every common configuration has a row, none of a count.
        Assert.DoesNotContain(cmp.Rows, r => r.Metric == Metrics.NdrTrials);
        Assert.Contains(cmp.Rows, r => r.Metric == Metrics.At(Metrics.P99Us, 90) && r.ConfigId == "hybrid-64");
    }

    [Fact]
    public void With_too_few_rounds_nothing_is_judged_and_the_page_says_so()
    {
        using var tmp = new TempDir();
        var (b, c) = Folders(tmp, 0.5, edit: r => r.Samples.RemoveAll(x => x.Round > 2));
        Comparison cmp = RunComparer.Compare(ReportCsv.Read(b), ReportCsv.Read(c), "base", "cand", new CompareOptions());
        Assert.All(cmp.Rows.Where(r => r.ConfigId == "busy-64"), r => Assert.Equal(Verdict.NotJudged, r.Verdict));
        Assert.False(cmp.Regressed);
        var (b2, c2) = Folders(tmp, 0.5, edit: r => r.Samples.RemoveAll(x => x.Round > 2));
        File.Copy(Path.Combine(c2, ReportCsv.RoundsFile), Path.Combine(b2, ReportCsv.RoundsFile), overwrite: true);
        Comparison none = RunComparer.Compare(ReportCsv.Read(b2), ReportCsv.Read(c2), "base", "cand", new CompareOptions());
        Assert.Contains("**Nothing judged", CompareMarkdown.Build(none));
    }

    [Fact]
    public void Out_writes_markdown_csv_json_and_the_ratio_plot_and_json_goes_to_stdout()
    {
        using var tmp = new TempDir();
        var (b, c) = Folders(tmp, 0.85);
        string outDir = Path.Combine(tmp.Path, "cmp");
        var stdout = Console.Out;
        var sw = new StringWriter();
        Console.SetOut(sw);
        int code;
        try
        {
            code = Cli.Main(["compare", b, c, "--json", "--out", outDir, "--metric", "ndr_mpps", "p99_us"]);
        }
        finally
        {
            Console.SetOut(stdout);
        }
        Assert.Equal(Cli.Failed, code);
        using JsonDocument doc = JsonDocument.Parse(sw.ToString());
        Assert.True(doc.RootElement.GetProperty("regressed").GetBoolean());
        var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.All(rows, r => Assert.True(r.GetProperty("metric").GetString() is "ndr_mpps" || r.GetProperty("metric").GetString()!.StartsWith("p99_us@", StringComparison.Ordinal)));
        Assert.Equal("slower", rows[0].GetProperty("verdict").GetString());
        foreach (string f in new[] { CompareMarkdown.FileName, CompareFiles.CsvFile, CompareFiles.JsonFile, CompareFiles.ChartStem + ".png", CompareFiles.ChartStem + ".svg" })
        {
            Assert.True(new FileInfo(Path.Combine(outDir, f)).Length > 0, f);
        }
        Assert.Contains(CompareFiles.ChartStem + ".png", File.ReadAllText(Path.Combine(outDir, CompareMarkdown.FileName)));
        Assert.Equal(rows.Count + 1, File.ReadAllLines(Path.Combine(outDir, CompareFiles.CsvFile)).Length);
    }

    /// <summary>Eighty rows of two runs of the same code (latency, ±30 % between rounds).</summary>
    private static List<RatioResult> SameCode(int rows) =>
        Enumerable.Range(0, rows).Select(i => RatioTest.Of(Rounds(100, 0.3, 1000 + i), Rounds(100, 0.3, 5000 + i), Better.Lower, 0.05)).ToList();

    [Fact]
    public void Two_runs_of_the_same_code_show_no_slower_row_once_the_rows_are_judged_together()
    {
        List<RatioResult> rows = SameCode(80);
        Assert.Contains(rows, r => r.Verdict is Verdict.Slower or Verdict.Faster); // alone, chance finds some
        IReadOnlyList<RatioResult> controlled = FalseDiscovery.Control(rows);
        Assert.DoesNotContain(controlled, r => r.Verdict is Verdict.Slower or Verdict.Faster);
        RatioResult demoted = controlled[rows.FindIndex(r => r.Verdict is Verdict.Slower or Verdict.Faster)];
        Assert.Equal(Verdict.Noise, demoted.Verdict);
        Assert.Contains("Benjamini-Hochberg", demoted.Why, StringComparison.Ordinal);
    }

    [Fact]
    public void A_change_that_moves_many_rows_is_still_found_among_many()
    {
        List<RatioResult> rows = SameCode(60);
        rows.AddRange(Enumerable.Range(0, 20).Select(i => RatioTest.Of(Rounds(100, 0.02, 9000 + i), Rounds(150, 0.02, 9500 + i), Better.Lower, 0.05)));
        IReadOnlyList<RatioResult> controlled = FalseDiscovery.Control(rows);
        Assert.All(controlled.Skip(60), r => Assert.Equal(Verdict.Slower, r.Verdict));
        Assert.DoesNotContain(controlled.Take(60), r => r.Verdict is Verdict.Slower or Verdict.Faster);
        Assert.Equal(rows.Count(r => r.Verdict == Verdict.NotJudged), controlled.Count(r => r.Verdict == Verdict.NotJudged));
    }
}

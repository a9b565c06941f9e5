using System.Text.Json;
using System.Text.Json.Serialization;
using PerfLab.Reports.Charts;
using PerfLab.Reports.Csv;

namespace PerfLab.Reports.Compare;

/// <summary>A row of compare.csv and of --json: flat, invariant numbers, NaN as null in JSON.</summary>
public sealed record CompareRecord(
    string ConfigId, string Metric, string Title, string Unit, string Better,
    int BaseRounds, double BaseMedian, double BaseLow, double BaseHigh,
    int CandidateRounds, double CandidateMedian, double CandidateLow, double CandidateHigh,
    double Ratio, double RatioLow, double RatioHigh, double RatioCoverage, double PValue, string Verdict, string Why)
{
    public static CompareRecord Of(ComparisonRow r)
    {
        RatioResult x = r.Result;
        return new(r.ConfigId, r.Metric, r.Def.Title, r.Def.Unit, r.Def.Better.ToString().ToLowerInvariant(),
            x.Base.N, x.Base.Median, x.Base.Low, x.Base.High, x.Candidate.N, x.Candidate.Median, x.Candidate.Low, x.Candidate.High,
            x.Ratio, x.RatioLow, x.RatioHigh, x.Coverage, x.PValue, VerdictText.Of(r.Verdict), x.Why);
    }
}

/// <summary>compare's files: compare.md, compare.csv, compare.json and the ratio chart.</summary>
public static class CompareFiles
{
    public const string CsvFile = "compare.csv";
    public const string JsonFile = "compare.json";
    public const string ChartStem = "compare-ratios";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The --json document: the verdict, the summary, the checks and every row.</summary>
    public static string ToJson(Comparison c) => JsonSerializer.Serialize(new
    {
        @base = c.BaseName,
        candidate = c.CandidateName,
        threshold = c.Threshold,
        regressed = c.Regressed,
        summary = c.Summary(),
        geometric_mean_gain = Finite(c.GeometricMeanGain),
        forced = c.Forced,
        checks = c.Checks.Select(x => new { what = x.What, @base = x.Base, candidate = x.Candidate, known = x.Known, differs = x.Differs }),
        only_in_base = c.OnlyInBase,
        only_in_candidate = c.OnlyInCandidate,
        rows = c.Rows.Select(CompareRecord.Of),
    }, Json);

    private static double? Finite(double v) => double.IsFinite(v) ? v : null;

    /// <summary>Writes the four files into <paramref name="dir"/>; returns compare.md's path.</summary>
    public static string Write(Comparison c, string dir)
    {
        Directory.CreateDirectory(dir);
        ReportCsv.WriteFile(Path.Combine(dir, CsvFile), c.Rows.Select(CompareRecord.Of));
        File.WriteAllText(Path.Combine(dir, JsonFile), ToJson(c));
        RenderedChart chart = CompareChart.Render(c, dir);
        string md = Path.Combine(dir, CompareMarkdown.FileName);
        File.WriteAllText(md, CompareMarkdown.Build(c, chart.PngFile));
        return md;
    }
}

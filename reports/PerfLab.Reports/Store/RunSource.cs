using System.Globalization;
using PerfLab.Reports.Csv;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Store;

/// <summary>
/// What compare's BASE and CAND name: a report folder (reports/2026-12-03_04-10-00,
/// reports/latest, reports/sample), or a run id in the store ("12", or "#12"). A folder wins
/// when both could be meant.
/// </summary>
public static class RunSource
{
    public static bool IsRunId(string arg, out long id) =>
        long.TryParse(arg.TrimStart('#'), NumberStyles.None, CultureInfo.InvariantCulture, out id) && id > 0;

    /// <summary>The run and the name compare shows for it; the store is opened only when a run
    /// id asks for it.</summary>
    public static (Report Report, string Name) Load(string arg, Func<ResultsStore> store)
    {
        if (Directory.Exists(arg))
        {
            return (ReportCsv.Read(arg), Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(arg))));
        }
        if (IsRunId(arg, out long id))
        {
            Report r = store().Load(id);
            return (r, $"run {id}" + (RunWriter.SplitCommit(r.Run[RunInfo.GitCommit]).Commit is { Length: > 0 } c ? $" ({c})" : ""));
        }
        throw new StoreException($"{arg}: neither a report folder nor a run id of the store (`perflab-report history` lists them)");
    }
}

using PerfLab.Reports.Model;

namespace PerfLab.Reports.Store;

/// <summary>
/// The bench's (and import's) one call: record a finished run in the store, and say in one
/// line what happened. A store that cannot be used does not lose the run: its report folder is
/// complete, and `perflab-report import DIR` records it later.
/// </summary>
public static class RunRecorder
{
    /// <summary>Records <paramref name="report"/>, written to <paramref name="folder"/>; returns
    /// the line to print and whether it was recorded.</summary>
    public static (bool Ok, string Message) Record(Report report, string folder, StoreLocation at)
    {
        try
        {
            using ResultsStore store = ResultsStore.Open(at);
            var (id, existed) = store.Record(report, Path.GetFullPath(folder));
            return (true, existed ? $"already in the results store as run {id} ({at.Display})" : $"recorded as run {id} in {at.Display}");
        }
        catch (StoreException e)
        {
            return (false, $"not recorded in the results store: {e.Message}. The report folder is complete; `perflab-report import {folder}` records it later");
        }
    }
}

namespace PerfLab.Reports.Store;

/// <summary>A run as the store lists it: its id and the facts history filters and labels by.</summary>
public sealed record StoredRun(long Id, string RecordedUtc, string RunDate, string Title, string Host, string CpuModel,
    string GitCommit, bool GitDirty, string C2cClass, string Source)
{
    /// <summary>"abc1234" or "abc1234+" (local changes), "?" when the run had no commit.</summary>
    public string CommitText => (GitCommit.Length > 0 ? GitCommit : "?") + (GitDirty ? "+" : "");
}

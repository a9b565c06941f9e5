namespace PerfLab.Reports;

/// <summary>The repository's reports/ folder (dated report folders, latest, results.db): found
/// from the current directory or the program's, up to the folder holding PerfLab.sln; else
/// ./reports.</summary>
public static class ReportsRoot
{
    public static string Find()
    {
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "PerfLab.sln")))
                {
                    return Path.Combine(d.FullName, "reports");
                }
            }
        }
        return Path.Combine(Environment.CurrentDirectory, "reports");
    }
}

using PerfLab.Reports.Charts;
using PerfLab.Reports.Csv;
using PerfLab.Reports.Markdown;
using PerfLab.Reports.Model;

namespace PerfLab.Reports;

/// <summary>A report folder: CSVs (the data), the charts and report.md rendered from them.</summary>
public static class ReportFolder
{
    public const string Latest = "latest";

    /// <summary>Writes the CSVs, then renders the charts and report.md from what was written.</summary>
    public static IReadOnlyList<RenderedChart> Write(Report report, string dir)
    {
        ReportCsv.Write(report, dir);
        return Render(dir);
    }

    /// <summary>Renders the charts and report.md of a folder from its CSVs.</summary>
    public static IReadOnlyList<RenderedChart> Render(string dir)
    {
        Report report = ReportCsv.Read(dir);
        var charts = ReportCharts.RenderAll(report, dir);
        File.WriteAllText(Path.Combine(dir, MarkdownReport.FileName), MarkdownReport.Build(report, charts));
        return charts;
    }

    /// <summary>A new folder named after the time under <paramref name="root"/>
    /// (reports/2026-08-30_14-05-09).</summary>
    public static string CreateDated(string root, DateTime now)
    {
        string dir = Path.Combine(root, now.ToString("yyyy-MM-dd_HH-mm-ss", System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Points ROOT/latest at <paramref name="dir"/> (a relative symbolic link; a copy
    /// where links are not possible).</summary>
    public static string UpdateLatest(string root, string dir)
    {
        string latest = Path.Combine(root, Latest);
        var info = new FileInfo(latest);
        if (info.LinkTarget != null || info.Exists)
        {
            File.Delete(latest);
        }
        else if (Directory.Exists(latest))
        {
            Directory.Delete(latest, recursive: true);
        }
        try
        {
            Directory.CreateSymbolicLink(latest, Path.GetRelativePath(root, dir));
        }
        catch (IOException)
        {
            CopyDir(dir, latest);
        }
        catch (UnauthorizedAccessException)
        {
            CopyDir(dir, latest);
        }
        return latest;
    }

    private static void CopyDir(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string f in Directory.EnumerateFiles(from))
        {
            File.Copy(f, Path.Combine(to, Path.GetFileName(f)), overwrite: true);
        }
    }
}

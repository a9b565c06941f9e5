using PerfLab.Reports;
using PerfLab.Reports.Charts;

namespace PerfLab.Reports.Cli;

public static class Program
{
    private const string Help =
"""
perflab-report: renders a PerfLab report folder again from its CSV files.

Usage: perflab-report render DIR     rewrite DIR's plots (PNG, SVG) and report.md
       perflab-report --help

DIR is a folder the bench wrote (reports/<date-time>, reports/latest, reports/sample):
run.csv, configs.csv, iterations.csv, latency-percentiles.csv, micro.csv. Edit or merge
the CSVs, then render: the plots and the summary follow the data.
""";

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
        {
            Console.WriteLine(Help);
            return args.Length == 0 ? 2 : 0;
        }
        if (args[0] != "render" || args.Length != 2)
        {
            Console.Error.WriteLine($"perflab-report: unknown arguments '{string.Join(' ', args)}' (see --help)");
            return 2;
        }
        string dir = args[1];
        try
        {
            IReadOnlyList<RenderedChart> charts = ReportFolder.Render(dir);
            foreach (RenderedChart c in charts)
            {
                Console.WriteLine($"{c.PngPath}{(c.HasData ? "" : "  (no data)")}");
            }
            Console.WriteLine(Path.Combine(dir, Markdown.MarkdownReport.FileName));
            return 0;
        }
        catch (Exception e) when (e is IOException or CsvHelper.CsvHelperException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"perflab-report: {dir}: {e.Message}");
            return 1;
        }
    }
}

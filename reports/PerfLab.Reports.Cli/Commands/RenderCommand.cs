using System.CommandLine;
using PerfLab.Reports.Charts;
using PerfLab.Reports.Markdown;

namespace PerfLab.Reports.Cli.Commands;

/// <summary>render DIR: the plots and report.md again from a report folder's CSV files.</summary>
public static class RenderCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "a report folder (reports/<date-time>, reports/latest, reports/sample)" };
        var cmd = new Command("render", "Rewrite a report folder's plots (PNG, SVG) and report.md from its CSV files: edit or merge the CSVs, then render.") { dir };
        cmd.SetAction(p => Program.Guard("render", () =>
        {
            string d = p.GetValue(dir)!;
            IReadOnlyList<RenderedChart> charts = ReportFolder.Render(d);
            foreach (RenderedChart c in charts)
            {
                Console.WriteLine($"{c.PngPath}{(c.HasData ? "" : "  (no data)")}");
            }
            Console.WriteLine(Path.Combine(d, MarkdownReport.FileName));
            return Program.Ok;
        }));
        return cmd;
    }
}

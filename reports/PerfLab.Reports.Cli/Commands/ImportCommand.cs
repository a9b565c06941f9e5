using System.CommandLine;
using PerfLab.Reports.Csv;
using PerfLab.Reports.Store;

namespace PerfLab.Reports.Cli.Commands;

/// <summary>import DIR: records an existing report folder in the store (once: a folder
/// imported again is found by its digest).</summary>
public static class ImportCommand
{
    public static Command Create()
    {
        var dirs = new Argument<string[]>("DIR") { Description = "report folders (reports/<date-time>, reports/sample...)", Arity = ArgumentArity.OneOrMore };
        var store = StoreOptions.Store();
        var cmd = new Command("import", "Record existing report folders in the results store, so they can be compared and trended without running again.") { dirs, store };
        cmd.SetAction(p => Program.Guard("import", () =>
        {
            // Every folder is read before the store is touched: one incomplete folder stores nothing.
            var reports = p.GetValue(dirs)!.Select(d => (Dir: d, Report: ReportCsv.Read(d))).ToList();
            foreach (var (d, r) in reports.Where(x => x.Report.Samples.Count == 0))
            {
                throw new BadInputException($"{d} has no per-round samples (rounds.csv is empty): nothing to compare later, not imported");
            }
            StoreLocation at = StoreOptions.Location(p.GetValue(store));
            using ResultsStore s = ResultsStore.Open(at);
            foreach (var (d, r) in reports)
            {
                var (id, existed) = s.Record(r, Path.GetFullPath(d));
                Console.WriteLine(existed ? $"{d}: already stored as run {id}" : $"{d}: recorded as run {id} in {at.Display}");
            }
            return Program.Ok;
        }));
        return cmd;
    }
}

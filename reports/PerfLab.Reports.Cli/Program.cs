using System.CommandLine;
using PerfLab.Reports.Cli.Commands;

namespace PerfLab.Reports.Cli;

/// <summary>
/// perflab-report: one command per job, on System.CommandLine. Exit codes: 0 success, 1 a
/// verdict or a failure the command reports (compare: a regression), 2 bad input (unknown
/// verb or option, a folder that is not a report, an unusable store).
/// </summary>
public static class Program
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int BadInput = 2;

    public static RootCommand Build()
    {
        var root = new RootCommand("perflab-report: PerfLab's report folders, comparisons, results store, and the scripts' statistics.");
        root.Add(RenderCommand.Create());
        foreach (Command c in JournalCommands.Create())
        {
            root.Add(c);
        }
        root.Add(GoalsCommand.Create());
        root.Add(BackendStatsCommand.Create());
        root.Add(DensityCommand.Create());
        root.Add(CompareCommand.Create());
        root.Add(HistoryCommand.Create());
        root.Add(ImportCommand.Create());
        return root;
    }

    public static int Main(string[] args)
    {
        RootCommand root = Build();
        ParseResult parsed = root.Parse(args);
        if (args.Length == 0)
        {
            root.Parse(["--help"]).Invoke();
            return BadInput;
        }
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors)
            {
                Console.Error.WriteLine($"perflab-report: {e.Message}");
            }
            Console.Error.WriteLine("perflab-report: see --help");
            return BadInput;
        }
        return parsed.Invoke();
    }

    /// <summary>Runs a command's body, turning the failures a user can cause into one line and
    /// an exit code instead of a stack trace.</summary>
    public static int Guard(string what, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is BadInputException or PerfLab.Reports.Store.StoreException or PerfLab.Reports.Compare.CompareRefusedException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException
            or CsvHelper.CsvHelperException or FormatException or System.Text.Json.JsonException or KeyNotFoundException)
        {
            Console.Error.WriteLine($"perflab-report {what}: {e.Message}");
            return BadInput;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            Console.Error.WriteLine($"perflab-report {what}: {e.Message}");
            return Failed;
        }
    }
}

/// <summary>Input the user can fix: the message says how; exit 2.</summary>
public sealed class BadInputException(string message) : Exception(message);

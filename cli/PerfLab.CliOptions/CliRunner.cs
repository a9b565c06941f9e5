using System.CommandLine;

namespace PerfLab.CliOptions;

/// <summary>
/// How both daemons treat their command line: --help and --version print and exit 0; a typo or
/// a bad value is one line on stderr naming the option, and exit 2 (never a stack trace).
/// </summary>
public static class CliRunner
{
    /// <summary>Parses <paramref name="args"/>; a parse error is an <see cref="ArgumentException"/>
    /// with its message (the first error; one line).</summary>
    public static ParseResult Parse(RootCommand root, string[] args)
    {
        ParseResult r = root.Parse(args);
        if (r.Errors.Count > 0)
        {
            throw new ArgumentException(OneLine(FirstError(r)));
        }
        return r;
    }

    /// <summary>The error to show: an option's own ("--sockets: needs a folder, ...") before the
    /// parser's, which for a left-out value names the token after it ("Unrecognized ... '2'").</summary>
    private static string FirstError(ParseResult r) =>
        (r.Errors.FirstOrDefault(e => e.Message.StartsWith("--", StringComparison.Ordinal)) ?? r.Errors[0]).Message;

    /// <summary>
    /// The whole of a daemon's Main: help and version, or <paramref name="bind"/> (which may throw
    /// <see cref="ArgumentException"/> for a combination of options that does not go together),
    /// then <paramref name="run"/>. Returns the exit status.
    /// </summary>
    public static int Main<TOptions>(RootCommand root, string program, string[] args, Func<ParseResult, TOptions> bind, Func<TOptions, int> run)
    {
        TOptions options;
        try
        {
            ParseResult r = root.Parse(args);
            if (r.Errors.Count > 0)
            {
                throw new ArgumentException(OneLine(FirstError(r)));
            }
            if (r.Action != null)
            {
                return r.Invoke(); // --help, --version
            }
            options = bind(r);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"{program}: {OneLine(e.Message)} (see --help)");
            return 2;
        }
        return run(options);
    }

    private static string OneLine(string message) =>
        string.Join(' ', message.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}

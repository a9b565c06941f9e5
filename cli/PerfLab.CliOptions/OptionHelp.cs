using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Text;

namespace PerfLab.CliOptions;

/// <summary>
/// --help, written from the option definitions themselves: each option's names, value name,
/// description and default (<see cref="Opt.ShownDefault"/>), grouped in sections.
/// </summary>
public sealed class OptionHelp : SynchronousCommandLineAction
{
    private const int Width = 100;
    private const int FirstColumn = 28;

    private readonly string _program;
    private readonly string _description;
    private readonly IReadOnlyList<(string Title, Option[] Options)> _sections;

    private OptionHelp(string program, string description, IReadOnlyList<(string Title, Option[] Options)> sections)
    {
        _program = program;
        _description = description;
        _sections = sections;
    }

    /// <summary>Adds the sections' options to <paramref name="root"/> in order and makes its
    /// --help print them.</summary>
    public static void Install(RootCommand root, string program, params (string Title, Option[] Options)[] sections)
    {
        foreach (var (_, options) in sections)
        {
            foreach (Option o in options)
            {
                root.Options.Add(o);
            }
        }
        root.Options.OfType<HelpOption>().Single().Action = new OptionHelp(program, root.Description ?? "", sections);
    }

    public override int Invoke(ParseResult parseResult)
    {
        Console.Out.Write(Render());
        return 0;
    }

    public string Render()
    {
        var s = new StringBuilder();
        s.AppendLine(_description.TrimEnd());
        s.AppendLine();
        s.AppendLine($"Usage: {_program} [options]   (--name value or --name=value)");
        foreach (var (title, options) in _sections)
        {
            s.AppendLine();
            s.AppendLine(title);
            foreach (Option o in options)
            {
                Append(s, o);
            }
        }
        s.AppendLine();
        s.AppendLine("  -h, --help                this text");
        s.AppendLine("  --version                 the version (and commit) of this build");
        return s.ToString();
    }

    private static void Append(StringBuilder s, Option o)
    {
        var names = new List<string> { o.Name };
        names.AddRange(o.Aliases);
        string first = "  " + string.Join(", ", names) + (o.ValueType == typeof(bool) ? "" : " " + o.HelpName);
        string? shown = Opt.ShownDefault(o);
        string text = (o.Description ?? "") + (shown != null ? $" (default {shown})" : "");
        var words = new Queue<string>(text.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        var line = new StringBuilder(first);
        if (line.Length >= FirstColumn - 1)
        {
            s.AppendLine(line.ToString());
            line.Clear();
        }
        while (words.Count > 0)
        {
            line.Append(' ', Math.Max(1, FirstColumn - line.Length));
            int start = line.Length;
            while (words.Count > 0 && (line.Length == start || line.Length + 1 + words.Peek().Length <= Width))
            {
                if (line.Length > start)
                {
                    line.Append(' ');
                }
                line.Append(words.Dequeue());
            }
            s.AppendLine(line.ToString());
            line.Clear();
        }
        if (line.Length > 0)
        {
            s.AppendLine(line.ToString());
        }
    }
}

namespace PerfLab.Bench;

/// <summary>PerfLab's own command-line options; everything else goes to BenchmarkDotNet.</summary>
public sealed class BenchOptions
{
    public Profile Profile { get; private set; } = Profile.Quick;
    public string? OutRoot { get; private set; }
    public bool NoReport { get; private set; }
    public bool Help { get; private set; }

    /// <summary>Lets BenchmarkDotNet run a Debug build of the libraries (the tests' dry run).</summary>
    public bool AllowDebugBuild { get; private set; }

    /// <summary>The command line as given.</summary>
    public string[] Args { get; private set; } = [];

    /// <summary>What BenchmarkDotNet sees: PerfLab's options removed, and "--filter *" added
    /// when nothing selects benchmarks (BenchmarkSwitcher would otherwise prompt).</summary>
    public string[] BenchmarkDotNetArgs { get; private set; } = [];

    private static readonly string[] Selectors = ["--filter", "-f", "--allCategories", "--anyCategories", "--attribute"];

    public static bool TryParse(string[] args, out BenchOptions o, out string? error)
    {
        o = new BenchOptions { Args = args };
        error = null;
        var rest = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--profile":
                    if (i + 1 >= args.Length || Profile.Find(args[i + 1]) is not { } p)
                    {
                        error = $"--profile needs one of: {string.Join(", ", Profile.All.Select(x => x.Name))}";
                        return false;
                    }
                    o.Profile = p;
                    i++;
                    break;
                case "--out":
                    if (i + 1 >= args.Length)
                    {
                        error = "--out needs a folder";
                        return false;
                    }
                    o.OutRoot = Path.GetFullPath(args[++i]);
                    break;
                case "--no-report":
                    o.NoReport = true;
                    break;
                case "--allow-debug-build":
                    o.AllowDebugBuild = true;
                    break;
                case "--help" or "-h" or "-?":
                    o.Help = true;
                    rest.Add("--help");
                    break;
                default:
                    rest.Add(args[i]);
                    break;
            }
        }
        if (!o.Help && !rest.Any(a => Selectors.Contains(a)))
        {
            rest.AddRange(["--filter", "*"]);
        }
        o.BenchmarkDotNetArgs = [.. rest];
        return true;
    }
}

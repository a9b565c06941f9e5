using System.Globalization;
using PerfLab.Bench.Method;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench;

/// <summary>PerfLab's own command-line options; everything else goes to BenchmarkDotNet.</summary>
public sealed class BenchOptions
{
    public Profile Profile { get; private set; } = Profile.Default;
    public string? OutRoot { get; private set; }
    public bool NoReport { get; private set; }
    public bool NoMicro { get; private set; }
    public bool NoEndToEnd { get; private set; }
    public bool Help { get; private set; }

    /// <summary>Replaces every PerfLab configuration's back-end strategy (ids stay, so compare matches them).</summary>
    public PollMode? BackendPoll { get; private set; }

    /// <summary>Replaces every configuration's virtqueue size (--queue-size; the front-end's, so DPDK's too).</summary>
    public int? QueueSize { get; private set; }

    /// <summary>Every configuration on packed rings (--packed).</summary>
    public bool Packed { get; private set; }

    /// <summary>Appended to every perflab-backend's arguments.</summary>
    public IReadOnlyList<string> BackendArgs { get; private set; } = [];

    /// <summary>The results store the run is recorded in (--store; null: reports/results.db or $PERFLAB_STORE).</summary>
    public string? Store { get; private set; }

    /// <summary>--no-store: the run is not recorded (its folder can be imported later).</summary>
    public bool NoStore { get; private set; }

    /// <summary>Lets BenchmarkDotNet run a Debug build of the libraries (the tests' dry run).</summary>
    public bool AllowDebugBuild { get; private set; }

    /// <summary>The command line as given.</summary>
    public string[] Args { get; private set; } = [];

    /// <summary>BenchmarkDotNet's --filter patterns (they select configurations too).</summary>
    public List<string> Filters { get; } = [];

    /// <summary>What BenchmarkDotNet sees: PerfLab's options removed, and "--filter *" added
    /// when nothing selects benchmarks (BenchmarkSwitcher would otherwise prompt).</summary>
    public string[] BenchmarkDotNetArgs { get; private set; } = [];

    private static readonly string[] Selectors = ["--filter", "-f", "--allCategories", "--anyCategories", "--attribute"];

    public static bool TryParse(string[] args, out BenchOptions o, out string? error)
    {
        o = new BenchOptions { Args = args };
        error = null;
        var rest = new List<string>();
        string profileName = Profile.Default.Name;
        int? rounds = null, maxRounds = null;
        double? pdrLoss = null, trialS = null, sumS = null, loadPointS = null;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            bool hasValue = i + 1 < args.Length;
            string Value() => args[++i];
            switch (a)
            {
                case "--profile":
                    if (!hasValue)
                    {
                        error = $"--profile needs a name: {string.Join(", ", Profile.All.Select(x => x.Name))}";
                        return false;
                    }
                    profileName = Value();
                    if (Profile.Find(profileName) is null)
                    {
                        error = $"unknown profile '{profileName}': choose one of {string.Join(", ", Profile.All.Select(x => x.Name))}";
                        return false;
                    }
                    break;
                case "--rounds" or "--max-rounds" or "--pdr-loss" or "--trial-duration" or "--duration-sum" or "--load-point-duration":
                    if (!hasValue)
                    {
                        error = $"{a} needs a number";
                        return false;
                    }
                    string v = Value();
                    if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || !double.IsFinite(d))
                    {
                        error = $"{a}: '{v}' is not a number";
                        return false;
                    }
                    switch (a)
                    {
                        case "--rounds" or "--max-rounds":
                            if (d < 1 || d != Math.Floor(d))
                            {
                                error = $"{a} must be a whole number of at least 1, not {v}";
                                return false;
                            }
                            if (a == "--rounds")
                            {
                                rounds = (int)d;
                            }
                            else
                            {
                                maxRounds = (int)d;
                            }
                            break;
                        case "--pdr-loss":
                            if (!(d >= 0 && d < 1))
                            {
                                error = $"--pdr-loss is a loss ratio and must be in [0, 1), not {v} (0.005 is CSIT's 0.5 %)";
                                return false;
                            }
                            pdrLoss = d;
                            break;
                        case "--trial-duration":
                            if (!(d > 0))
                            {
                                error = $"--trial-duration must be positive (seconds), not {v}";
                                return false;
                            }
                            trialS = d;
                            break;
                        case "--duration-sum":
                            if (!(d > 0))
                            {
                                error = $"--duration-sum must be positive (seconds), not {v}";
                                return false;
                            }
                            sumS = d;
                            break;
                        default:
                            if (!(d > 0))
                            {
                                error = $"--load-point-duration must be positive (seconds), not {v}";
                                return false;
                            }
                            loadPointS = d;
                            break;
                    }
                    break;
                case "--backend-poll":
                    if (!hasValue)
                    {
                        error = "--backend-poll needs busy, interrupt, hybrid or backoff";
                        return false;
                    }
                    try
                    {
                        o.BackendPoll = PollOptions.ParseMode(Value());
                    }
                    catch (ArgumentException e)
                    {
                        error = "--backend-poll: " + e.Message;
                        return false;
                    }
                    break;
                case "--queue-size":
                    if (!hasValue || !int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out int q) || q < 1 || q > 32768)
                    {
                        error = $"--queue-size needs a queue size from 1 to 32768{(hasValue ? $", not '{args[i + 1]}'" : "")}";
                        return false;
                    }
                    i++;
                    o.QueueSize = q;
                    break;
                case "--packed":
                    o.Packed = true;
                    break;
                case "--backend-args":
                    if (!hasValue)
                    {
                        error = "--backend-args needs the arguments, quoted as one";
                        return false;
                    }
                    o.BackendArgs = Value().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    break;
                case "--out":
                    if (!hasValue)
                    {
                        error = "--out needs a folder";
                        return false;
                    }
                    o.OutRoot = Path.GetFullPath(Value());
                    break;
                case "--store":
                    if (!hasValue)
                    {
                        error = "--store needs a SQLite file or a PostgreSQL connection string";
                        return false;
                    }
                    o.Store = Value();
                    try
                    {
                        PerfLab.Reports.Store.StoreLocation.Parse(o.Store, ".");
                    }
                    catch (PerfLab.Reports.Store.StoreException e)
                    {
                        error = e.Message;
                        return false;
                    }
                    break;
                case "--no-store":
                    o.NoStore = true;
                    break;
                case "--no-report":
                    o.NoReport = true;
                    break;
                case "--no-micro":
                    o.NoMicro = true;
                    break;
                case "--no-end-to-end":
                    o.NoEndToEnd = true;
                    break;
                case "--allow-debug-build":
                    o.AllowDebugBuild = true;
                    break;
                case "--help" or "-h" or "-?":
                    o.Help = true;
                    rest.Add("--help");
                    break;
                case "--filter" or "-f":
                    rest.Add(a);
                    while (i + 1 < args.Length && !args[i + 1].StartsWith('-'))
                    {
                        o.Filters.Add(args[i + 1]);
                        rest.Add(args[++i]);
                    }
                    break;
                default:
                    rest.Add(a);
                    break;
            }
        }
        if (o.QueueSize is { } qs && !o.Packed && (qs & (qs - 1)) != 0)
        {
            error = $"--queue-size {qs}: a split ring's size must be a power of two (packed rings take any size up to 32768)";
            return false;
        }
        Profile p = Profile.Find(profileName)!;
        p = p with
        {
            Rounds = rounds ?? p.Rounds,
            // --rounds alone runs exactly that many.
            MaxRounds = maxRounds ?? (rounds is null ? p.MaxRounds : 0),
            PdrLossRatio = pdrLoss ?? p.PdrLossRatio,
            FinalTrialS = trialS ?? p.FinalTrialS,
            InitialTrialS = trialS is { } t ? Math.Min(t, p.InitialTrialS) : p.InitialTrialS,
            DurationSumS = sumS ?? (trialS is { } t2 ? Math.Max(t2, p.DurationSumS) : p.DurationSumS),
            LoadPointS = loadPointS ?? p.LoadPointS,
        };
        if (p.Invalid() is { } invalid)
        {
            error = invalid;
            return false;
        }
        o.Profile = p;
        if (!o.Help && !rest.Any(a => Selectors.Contains(a)))
        {
            rest.AddRange(["--filter", "*"]);
        }
        o.BenchmarkDotNetArgs = [.. rest];
        return true;
    }

    /// <summary>BenchmarkDotNet's glob (* and ?) against a configuration, named EndToEnd.ID.</summary>
    public bool Selects(BenchConfiguration c) =>
        Filters.Count == 0 || Filters.Any(f => Glob(f, "EndToEnd." + c.Id) || Glob(f, c.Id));

    private static bool Glob(string pattern, string name) =>
        System.Text.RegularExpressions.Regex.IsMatch(name, "^" + System.Text.RegularExpressions.Regex.Escape(pattern).Replace("\\*", ".*").Replace("\\?", ".") + "$",
            System.Text.RegularExpressions.RegexOptions.IgnoreCase);
}

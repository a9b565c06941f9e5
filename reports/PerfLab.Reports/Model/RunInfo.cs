namespace PerfLab.Reports.Model;

/// <summary>One fact about a run or its machine, in display order.</summary>
public sealed class RunFact
{
    public string Key { get; set; } = "";
    public string Value { get; set; } = "";
}

/// <summary>The machine and the run: CPU, kernel, .NET, package versions, the cache-line round
/// trip, the profile... An ordered list of facts, so a new fact needs no new column.</summary>
public sealed class RunInfo
{
    public const string Title = "Title";
    public const string Date = "Date";
    public const string Profile = "Profile";
    public const string Command = "Command";
    public const string Duration = "Duration";
    public const string Baseline = "Baseline";
    public const string Host = "Host";
    public const string Method = "Method";
    public const string Interval = "Confidence interval";
    public const string RoundsAdded = "Rounds added";
    public const string C2cRange = "Cache-line round trip (ns, per round)";
    public const string CpuModel = "CPU";
    public const string Cores = "Cores";
    public const string Hypervisor = "Hypervisor";
    public const string Kernel = "Kernel";
    public const string Os = "OS";
    public const string DotNet = ".NET";
    public const string Dpdk = "DPDK";
    public const string GitCommit = "Git commit";
    public const string StealPct = "CPU steal during the run (%)";
    public const string LoadBefore = "Load average before (1/5/15 min)";
    public const string LoadAfter = "Load average after (1/5/15 min)";

    public List<RunFact> Facts { get; } = [];

    public string? this[string key]
    {
        get => Facts.FirstOrDefault(f => f.Key == key)?.Value;
        set
        {
            RunFact? f = Facts.FirstOrDefault(f => f.Key == key);
            if (value is null)
            {
                if (f != null)
                {
                    Facts.Remove(f);
                }
            }
            else if (f != null)
            {
                f.Value = value;
            }
            else
            {
                Facts.Add(new RunFact { Key = key, Value = value });
            }
        }
    }

    public void Set(string key, string value) => this[key] = value;

    public double GetDouble(string key) =>
        double.TryParse(this[key], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v) ? v : double.NaN;
}

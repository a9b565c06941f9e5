namespace PerfLab.Reports.Model;

/// <summary>
/// The choices the plots and the Markdown make over a run's configurations, in one place so
/// that they agree: the order (the catalog's), which load point the spectrum shows, and the
/// configurations that have a given figure.
/// </summary>
public static class Views
{
    /// <summary>The load point of the latency spectrum: half of each configuration's own PDR
    /// (loaded, but well below its capacity, so the distribution is the data path's).</summary>
    public const int SpectrumLoad = 50;

    /// <summary>Configurations in the run's order that have <paramref name="metric"/> in some used round.</summary>
    public static List<ConfigInfo> With(Report r, string metric)
    {
        var used = Summaries.UsedRounds(r);
        return r.Configs.Where(c => Summaries.ByRound(r, c.Id, metric, used).Count > 0).ToList();
    }

    /// <summary>True when some configuration searched NDR/PDR (bench runs; scripts need not).</summary>
    public static bool HasSearch(Report r) => r.Samples.Any(s => s.Values.ContainsKey(Metrics.PdrMpps));

    public static string LabelOf(ConfigInfo c) => c.Label.Length > 0 ? c.Label : c.Id;
}

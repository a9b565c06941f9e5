namespace PerfLab.Reports.Model;

/// <summary>One round of a run: when it started, the cache-line round trip measured at its
/// start, the order it visited the configurations in, and whether it is flagged.</summary>
public sealed class RoundInfo
{
    /// <summary>1-based.</summary>
    public int Round { get; set; }
    public DateTime StartedUtc { get; set; }
    public double C2cNs { get; set; } = double.NaN;
    public string C2cClass { get; set; } = Statistics.C2cClass.Unknown;

    /// <summary>Its c2c class differs from the run's usual one: left out of the medians.</summary>
    public bool Flagged { get; set; }

    /// <summary>Configuration ids, space-separated, in visiting order.</summary>
    public string Order { get; set; } = "";
}

/// <summary>One configuration's figures in one round (a row of rounds.csv).</summary>
public sealed class RoundSample
{
    public int Round { get; set; }
    public string ConfigId { get; set; } = "";

    /// <summary>0-based place in the round's order.</summary>
    public int Position { get; set; }

    /// <summary>Metric name → value (NaN: not measured); names from <see cref="Metrics"/>.</summary>
    public Dictionary<string, double> Values { get; init; } = new(StringComparer.Ordinal);

    public double Get(string metric) => Values.TryGetValue(metric, out double v) ? v : double.NaN;
}

/// <summary>One trial (MLRsearch or a load point) of one configuration in one round, for the
/// record: what was offered and what came back.</summary>
public sealed class TrialRecord
{
    public int Round { get; set; }
    public string ConfigId { get; set; } = "";

    /// <summary>"warmup", "search" or "load".</summary>
    public string Kind { get; set; } = "";

    /// <summary>What the trial was for: a load point ("p99_us@50"'s "50"), empty for search.</summary>
    public string Point { get; set; } = "";
    public double IntendedMpps { get; set; }
    public double DurationS { get; set; }
    public long Offered { get; set; }
    public long Received { get; set; }
    public double LossRatio { get; set; }
    public double ForwardingMpps { get; set; }
    /// <summary>Where the loss happened, -1 when not known: frames the TX ring had no room for
    /// (the back-end fell behind), frames the back-end dropped for want of an RX buffer (the guest
    /// fell behind), and frames the generator sent late (it fell behind its own schedule).</summary>
    public long TxDropped { get; set; } = -1;
    public long BackendDropped { get; set; } = -1;
    public long GeneratorLate { get; set; } = -1;
}

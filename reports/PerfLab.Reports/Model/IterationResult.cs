namespace PerfLab.Reports.Model;

/// <summary>One measured iteration of one configuration (the raw data behind the spreads).</summary>
public sealed class IterationResult
{
    public string ConfigId { get; set; } = "";

    /// <summary>1-based among the measured iterations.</summary>
    public int Iteration { get; set; }

    /// <summary>BenchmarkDotNet's measurement of this iteration.</summary>
    public double NsPerFrame { get; set; }
    public long Frames { get; set; }
    public double P50Ns { get; set; }
    public double P99Ns { get; set; }
    public double P999Ns { get; set; }
    public double MaxLatencyNs { get; set; }
    public double BackendCpuPct { get; set; } = double.NaN;
    public double BackendCpuNsPerFrame { get; set; } = double.NaN;
    public double LoadgenCpuPct { get; set; } = double.NaN;
    public double LoadgenCpuNsPerFrame { get; set; } = double.NaN;
    public double KicksPerFrame { get; set; } = double.NaN;
    public double CallsPerFrame { get; set; } = double.NaN;
    public long BackendGen0 { get; set; } = -1;
    public long BackendGen1 { get; set; } = -1;
    public long BackendGen2 { get; set; } = -1;
    public long Errors { get; set; }
}

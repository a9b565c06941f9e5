namespace PerfLab.Reports.Model;

/// <summary>One micro-benchmark (BenchmarkDotNet, in-process objects, ns per operation).</summary>
public sealed class MicroResult
{
    /// <summary>Class.Method.</summary>
    public string Benchmark { get; set; } = "";

    /// <summary>Parameters as BenchmarkDotNet prints them ("Strategy=Busy"), or empty.</summary>
    public string Parameters { get; set; } = "";
    public double MeanNs { get; set; }
    public double StdDevNs { get; set; }
    public double MinNs { get; set; }
    public double MaxNs { get; set; }

    /// <summary>MemoryDiagnoser: bytes per operation (process-wide, rounded).</summary>
    public double AllocatedBytesPerOp { get; set; } = double.NaN;
    public double Gen0Per1kOps { get; set; } = double.NaN;

    public string Description { get; set; } = "";
}

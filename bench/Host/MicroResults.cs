using System.ComponentModel;
using System.Reflection;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using PerfLab.Reports.Model;

namespace PerfLab.Bench.Host;

/// <summary>BenchmarkDotNet's summaries as the report's micro-benchmark rows (its own statistics).</summary>
public static class MicroResults
{
    public static IEnumerable<MicroResult> From(IEnumerable<Summary> summaries) =>
        summaries.SelectMany(s => s.Reports).Where(r => r.ResultStatistics != null).Select(From);

    private static MicroResult From(BenchmarkReport report)
    {
        var st = report.ResultStatistics!;
        BenchmarkCase bc = report.BenchmarkCase;
        MethodInfo m = bc.Descriptor.WorkloadMethod;
        GcStats gc = report.GcStats;
        return new MicroResult
        {
            Benchmark = $"{bc.Descriptor.Type.Name}.{m.Name}",
            Parameters = string.Join(", ", bc.Parameters.Items.Select(p => $"{p.Name}={p.Value}")),
            MeanNs = st.Mean,
            StdDevNs = st.StandardDeviation,
            MinNs = st.Min,
            MaxNs = st.Max,
            AllocatedBytesPerOp = gc.TotalOperations > 0 ? gc.GetBytesAllocatedPerOperation(bc) ?? double.NaN : double.NaN,
            Gen0Per1kOps = gc.TotalOperations > 0 ? gc.Gen0Collections * 1000.0 / gc.TotalOperations : double.NaN,
            Description = m.GetCustomAttribute<DescriptionAttribute>()?.Description ?? "",
        };
    }
}

namespace PerfLab.Bench.Micro;

/// <summary>BenchmarkDotNet categories of the suite (the end-to-end part is the round runner's, not BenchmarkDotNet's).</summary>
public static class Categories
{
    public const string Micro = "Micro";
}

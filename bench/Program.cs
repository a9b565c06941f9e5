using BenchmarkDotNet.Running;

namespace PerfLab.Bench;

public static class Program
{
    /// <summary>
    /// With no arguments, runs every benchmark without prompting (BenchmarkSwitcher would
    /// otherwise wait for keyboard input); any BenchmarkDotNet option still works.
    /// </summary>
    public static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            args = ["--filter", "*"];
        }
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return summaries.Any(s => s.HasCriticalValidationErrors) ? 1 : 0;
    }
}

using PerfLab.Backend.Logging;
using SharpFuzz;

namespace PerfLab.Fuzz;

/// <summary>
/// perflab-fuzz: the fuzz targets behind scripts/fuzz.
/// <list type="bullet">
/// <item><c>afl TARGET</c>: SharpFuzz's out-of-process fork server for afl-fuzz (the input
/// comes on stdin; a crash of the child, SIGSEGV included, is reported and the child restarted).</item>
/// <item><c>run TARGET [-v] PATH...</c>: runs files (or every file of directories) once each and
/// prints what each did (-v: in detail); exit 1 if any failed (replaying crashes, checking a corpus).</item>
/// <item><c>seeds DIR</c>: writes the seed corpus to DIR/TARGET/NAME.</item>
/// </list>
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        Log.Quiet = true;
        Log.MinimumLevel = Microsoft.Extensions.Logging.LogLevel.None;
        if (args.Length == 2 && args[0] == "afl" && Targets.Find(args[1]) is { } t)
        {
            Fuzzer.OutOfProcess.Run(stream =>
            {
                using var ms = new MemoryStream();
                stream.CopyTo(ms);
                t.Run(ms.GetBuffer().AsSpan(0, (int)ms.Length));
            });
            return 0;
        }
        if (args.Length >= 3 && args[0] == "run" && Targets.Find(args[1]) is { } r)
        {
            bool verbose = args[2] == "-v";
            if (verbose)
            {
                Targets.Trace = s => Console.WriteLine($"       {s}");
            }
            return Replay(r, args[(verbose ? 3 : 2)..]);
        }
        if (args.Length == 2 && args[0] == "seeds")
        {
            foreach (var (target, name, input) in Targets.Seeds())
            {
                string dir = Path.Combine(args[1], target);
                Directory.CreateDirectory(dir);
                File.WriteAllBytes(Path.Combine(dir, name), input);
            }
            return 0;
        }
        Console.Error.WriteLine("usage: PerfLab.Fuzz afl TARGET | run TARGET [-v] PATH... | seeds DIR (TARGET: handler, ring, doublefetch, server)");
        return 2;
    }

    private static int Replay(Targets.Target t, string[] paths)
    {
        var files = paths.SelectMany(p => Directory.Exists(p) ? Directory.GetFiles(p).Order().ToArray() : [p]).ToList();
        int failed = 0;
        foreach (string f in files)
        {
            try
            {
                t.Run(File.ReadAllBytes(f));
                Console.WriteLine($"ok     {f}");
            }
            catch (Exception e)
            {
                failed++;
                Console.WriteLine($"FAILED {f}: {e}");
            }
        }
        Console.WriteLine($"{files.Count} inputs, {failed} failed");
        return failed == 0 ? 0 : 1;
    }
}

/// <summary>The fuzz targets by name, and their seeds.</summary>
public static class Targets
{
    public delegate void RunInput(ReadOnlySpan<byte> input);

    /// <summary>Where targets describe what an input did (`run -v`); null while fuzzing.</summary>
    public static Action<string>? Trace { get; set; }

    public sealed record Target(string Name, RunInput Run);

    public static readonly Target[] All =
    [
        new("handler", HandlerTarget.Run),
        new("ring", RingTarget.Run),
        new("doublefetch", DoubleFetchTarget.Run),
        new("server", ServerTarget.Run),
    ];

    public static Target? Find(string name) => All.FirstOrDefault(t => t.Name == name);

    /// <summary>Every seed: target, file name, bytes.</summary>
    public static IEnumerable<(string Target, string Name, byte[] Input)> Seeds() =>
        HandlerSeeds.All().Select(s => ("handler", s.Name, s.Input))
            .Concat(RingSeeds.All().Select(s => ("ring", s.Name, s.Input)))
            .Concat(DoubleFetchSeeds.All().Select(s => ("doublefetch", s.Name, s.Input)))
            .Concat(ServerSeeds.All().Select(s => ("server", s.Name, s.Input)));
}

using PerfLab.Fuzz;
using PerfLab.Tests.Peers;
using Xunit;

namespace PerfLab.Tests.Fuzz;

/// <summary>
/// The fuzz targets (tests/PerfLab.Fuzz) replayed without afl-fuzz: every crash the fuzzer
/// found stays a test (Fuzz/regressions/TARGET/, one file per crash, named after the bug), and
/// every seed of the committed corpus runs clean. scripts/fuzz runs the campaigns.
/// </summary>
public class FuzzRegressionTests
{
    private static string CorpusDir(string target) => Path.Combine(PeerEnvironment.RepoRoot, "tests", "PerfLab.Fuzz", "corpus", target);

    private static string RegressionDir(string target) => Path.Combine(PeerEnvironment.RepoRoot, "tests", "PerfLab.Tests", "Fuzz", "regressions", target);

    public static TheoryData<string, string> Inputs()
    {
        var data = new TheoryData<string, string>();
        foreach (Targets.Target t in Targets.All)
        {
            foreach (string dir in new[] { CorpusDir(t.Name), RegressionDir(t.Name) })
            {
                if (Directory.Exists(dir))
                {
                    foreach (string f in Directory.GetFiles(dir).Order())
                    {
                        data.Add(t.Name, Path.GetRelativePath(PeerEnvironment.RepoRoot, f));
                    }
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void InputRunsClean(string target, string file)
    {
        byte[] input = File.ReadAllBytes(Path.Combine(PeerEnvironment.RepoRoot, file));
        Targets.Find(target)!.Run(input); // throws (or dies) on what afl-fuzz counts as a crash
    }

    [Fact]
    public void EveryTargetHasSeedsAndTheRegressionsAreReplayed()
    {
        foreach (Targets.Target t in Targets.All)
        {
            Assert.NotEmpty(Directory.GetFiles(CorpusDir(t.Name)));
        }
        Assert.NotEmpty(Directory.GetFiles(RegressionDir("handler")));
    }

    [Fact]
    public void CommittedCorpusIsWhatTheSeedBuildersWrite()
    {
        foreach (var (target, name, input) in Targets.Seeds())
        {
            string path = Path.Combine(CorpusDir(target), name);
            Assert.True(File.Exists(path), $"{path} is missing: run `dotnet tests/PerfLab.Fuzz/bin/Debug/net10.0/PerfLab.Fuzz.dll seeds tests/PerfLab.Fuzz/corpus`");
            Assert.True(input.AsSpan().SequenceEqual(File.ReadAllBytes(path)), $"{path} differs from its builder: regenerate the corpus");
        }
    }

    [Fact]
    public void FuzzScriptPrintsHelpAndRefusesUnknownTargets()
    {
        ScriptResult r = PeerEnvironment.RunScript("fuzz", TimeSpan.FromSeconds(30), "--help");
        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Contains("Usage: scripts/fuzz", r.Output, StringComparison.Ordinal);
        Assert.Equal(2, PeerEnvironment.RunScript("fuzz", TimeSpan.FromSeconds(30), "--target", "nothing").ExitCode);
    }

    /// <summary>The ring target's guest RAM has guard pages: an access past a region faults.</summary>
    [Fact]
    public void RingTargetGuestMemoryIsGuarded() => Assert.True(GuestArena.Shared.Guarded);

    /// <summary>The leak check sees an fd the back-end kept.</summary>
    [Fact]
    public void HandlerTargetFindsAnFdTheBackEndKeeps()
    {
        var fds = new FuzzFds();
        int fd = fds.Make(HandlerInput.EventFdKind);
        fds.Received([fd]);
        Assert.Throws<FuzzInvariantException>(fds.CheckNoLeaks);
        Vhost.Interop.LibC.close(fd);
        fds.CheckNoLeaks();
        fds.Dispose();
    }
}

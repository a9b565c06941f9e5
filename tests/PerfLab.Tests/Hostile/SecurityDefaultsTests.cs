using System.Text.RegularExpressions;
using Mono.Unix.Native;
using PerfLab.Backend.Server;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Transport;
using Xunit;
using Cli = PerfLab.Backend.Cli.Program;

namespace PerfLab.Tests.Hostile;

/// <summary>
/// Issue 7 item 6: the socket is created 0600 or with the mode given on the command line; a
/// stale socket file is replaced only if nothing listens on it; and no back-end code follows a
/// guest-supplied address except through the bounds-checked memory door (checked on the source).
/// (UnixSocket.Listen itself is tested in FdPassingTests; these go through the CLI's options.)
/// </summary>
public sealed partial class SecurityDefaultsTests
{
    private static FilePermissions ModeOf(string path)
    {
        Assert.Equal(0, Syscall.stat(path, out Stat st));
        Assert.Equal(FilePermissions.S_IFSOCK, st.st_mode & FilePermissions.S_IFMT);
        return st.st_mode & (FilePermissions)0xFFF;
    }

    [Theory]
    [InlineData(null, 0x180)]    // default 0600
    [InlineData("660", 0x1B0)]
    [InlineData("0640", 0x1A0)]
    [InlineData("666", 0x1B6)]
    public void TheSocketHasTheDefaultModeOrTheOneGivenOnTheCommandLine(string? mode, int expected)
    {
        using var dir = new TempDir();
        string path = dir.File("s.sock");
        string[] args = mode == null ? ["--socket", path] : ["--socket", path, "--socket-mode", mode];
        BackendOptions o = Cli.Parse(args);
        using var server = new VhostUserServer(o, startWorkers: false);
        Assert.Equal((FilePermissions)expected, ModeOf(path));
    }

    [Theory]
    [InlineData("9")]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("4755")]   // setuid: permission bits only
    [InlineData("1777")]   // sticky
    [InlineData("066")]    // the owner could not connect
    [InlineData("400")]
    [InlineData("77777777777")]
    public void ABadSocketModeIsRefusedWithAClearMessage(string mode)
    {
        var e = Assert.Throws<ArgumentException>(() => Cli.Parse(["--socket-mode", mode]));
        Assert.Contains("--socket-mode", e.Message);
        Assert.Equal(2, Cli.Main(["--socket-mode", mode]));
    }

    [Fact]
    public void TheDaemonReplacesAStaleSocketButNeverALiveOneNorAPlainFile()
    {
        using var dir = new TempDir();
        string path = dir.File("s.sock");

        // A stale socket file: bound, never listened on, its owner gone.
        int stale = Syscall.socket(UnixAddressFamily.AF_UNIX, UnixSocketType.SOCK_STREAM, 0);
        Assert.Equal(0, Syscall.bind(stale, new SockaddrUn(path)));
        LibC.close(stale);
        Assert.False(UnixSocket.CanConnect(path));
        using (var first = new VhostUserServer(Cli.Parse(["--socket", path]), startWorkers: false))
        {
            Assert.True(UnixSocket.CanConnect(path));
            Assert.Equal((FilePermissions)0x180, ModeOf(path));

            // Live: a second daemon on the same path refuses to start and leaves it alone.
            Assert.Equal(1, Cli.Main(["--socket", path, "--stats-interval", "0"]));
            Assert.True(UnixSocket.CanConnect(path));
        }

        // A plain file is never replaced.
        File.WriteAllText(path, "not a socket");
        Assert.Equal(1, Cli.Main(["--socket", path, "--stats-interval", "0"]));
        Assert.Equal("not a socket", File.ReadAllText(path));
    }

    // ---- nothing follows a guest address outside the memory door -------------------------------

    /// <summary>
    /// Where raw pointers may appear in the back-end. The memory door and the ring walkers
    /// (Memory/, Virtq/) are the only code that turns guest addresses into pointers, always
    /// through GuestMemory's bounds-checked translation; Interop/ binds libc. Everywhere else,
    /// only these files may use pointers, and only over the back-end's own buffers; they must
    /// not touch guest-memory types at all.
    /// </summary>
    private static readonly Dictionary<string, string> s_ownPointers = new()
    {
        ["backend/PerfLab.Vhost/Transport/MessageChannel.cs"] = "pins its own header and message buffers for recvmsg/sendmsg/read/write",
        ["backend/PerfLab.Backend/Stats/StatsServer.cs"] = "pins the JSON it writes to a stats client",
        ["backend/PerfLab.Vhost/Diagnostics/Clock.cs"] = "its rdtsc stub: a function pointer into a page it mapped itself",
        ["backend/PerfLab.Vhost/Diagnostics/CpuTime.cs"] = "a getrusage struct on its stack",
    };

    private static readonly string[] s_doorDirs = ["backend/PerfLab.Vhost/Memory/", "backend/PerfLab.Vhost/Virtq/", "backend/PerfLab.Vhost/Interop/"];

    [GeneratedRegex(@"\bunsafe\b|\bfixed\s*\(|\b\w+\*(?=[\s)>,\]])|->|\bdelegate\s*\*|\bNativeMemory\.|\bBuffer\.MemoryCopy\b|\bMarshal\.(PtrToStructure|StructureToPtr|Read|Write|Copy)\w*|\bUnsafe\.(?!SizeOf\b)\w+|\((nint|nuint|IntPtr|UIntPtr)\)")]
    private static partial Regex PointerUse();

    [GeneratedRegex(@"\bGuestMemory\b|\bMappedRegion\b|\bMemoryTable\b|\bTranslate(Gpa|Fva)\w*|\bHostStart\b|\bDescChain\b|\bBufRef\b|\bDirtyLog\b")]
    private static partial Regex GuestMemoryUse();

    /// <summary>A cast of a guest-supplied address field straight to a pointer.</summary>
    [GeneratedRegex(@"\(\s*\w+\s*\*\s*\)\s*\(?\s*[\w.\[\]>-]*\b(Addr|Gpa|GuestPhysAddr|UserspaceAddr|DescUserAddr|AvailUserAddr|UsedUserAddr|LogGuestAddr|MmapOffset)\b")]
    private static partial Regex GuestAddressCast();

    private static string RepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d != null && !File.Exists(Path.Combine(d.FullName, "PerfLab.sln")))
        {
            d = d.Parent;
        }
        return d?.FullName ?? throw new DirectoryNotFoundException("PerfLab.sln not found above the test binaries");
    }

    /// <summary>Source lines without comments and string literals (enough for these patterns).</summary>
    private static IEnumerable<(string File, int Line, string Code)> BackendSource()
    {
        string root = RepoRoot();
        foreach (string dir in new[] { "backend/PerfLab.Backend", "backend/PerfLab.Vhost" })
        {
            foreach (string f in Directory.EnumerateFiles(Path.Combine(root, dir), "*.cs", SearchOption.AllDirectories))
            {
                string rel = Path.GetRelativePath(root, f).Replace('\\', '/');
                if (rel.Contains("/obj/", StringComparison.Ordinal) || rel.Contains("/bin/", StringComparison.Ordinal))
                {
                    continue;
                }
                string[] lines = File.ReadAllLines(f);
                for (int i = 0; i < lines.Length; i++)
                {
                    string code = Regex.Replace(lines[i], "\"(?:[^\"\\\\]|\\\\.)*\"", "\"\"");
                    int comment = code.IndexOf("//", StringComparison.Ordinal);
                    if (comment >= 0)
                    {
                        code = code[..comment];
                    }
                    yield return (rel, i + 1, code);
                }
            }
        }
    }

    [Fact]
    public void NothingOutsideTheMemoryDoorUsesRawPointersOverGuestMemory()
    {
        var src = BackendSource().ToList();
        Assert.True(src.Count > 1000, "the back-end's source was not found");
        // The pattern sees pointers where they are (so that an empty result means something).
        Assert.Contains(src, l => l.File.StartsWith("backend/PerfLab.Vhost/Virtq/", StringComparison.Ordinal) && PointerUse().IsMatch(l.Code));
        Assert.Matches(PointerUse(), "        byte* p = mem.TranslateGpa(a, n);");
        var offenders = src
            .Where(l => !s_doorDirs.Any(d => l.File.StartsWith(d, StringComparison.Ordinal)) && !s_ownPointers.ContainsKey(l.File)
                && PointerUse().IsMatch(l.Code))
            .Select(l => $"{l.File}:{l.Line}: {l.Code.Trim()}")
            .ToList();
        Assert.True(offenders.Count == 0,
            "raw pointers outside Memory/, Virtq/ and Interop/ (guest memory is reached only through GuestMemory's translation; "
            + "a file that pins its own buffers goes on the allow-list with its reason):\n" + string.Join("\n", offenders));

        var mixed = src
            .Where(l => s_ownPointers.ContainsKey(l.File) && GuestMemoryUse().IsMatch(l.Code))
            .Select(l => $"{l.File}:{l.Line}: {l.Code.Trim()}")
            .ToList();
        Assert.True(mixed.Count == 0, "a file allowed pointers over its own buffers touches guest memory:\n" + string.Join("\n", mixed));
    }

    [Fact]
    public void NoGuestAddressIsCastToAPointerAndOnlyTheDoorMapsRegions()
    {
        var src = BackendSource().ToList();
        Assert.Matches(GuestAddressCast(), "        var t = (VirtqDesc*)d.Addr;");
        Assert.Matches(GuestAddressCast(), "        byte* p = (byte*)(r.Desc.GuestPhysAddr + off);");
        var casts = src.Where(l => GuestAddressCast().IsMatch(l.Code)).Select(l => $"{l.File}:{l.Line}: {l.Code.Trim()}").ToList();
        Assert.True(casts.Count == 0, "a guest-supplied address is cast to a pointer instead of translated:\n" + string.Join("\n", casts));

        // Host addresses of mapped regions leave Memory/ only as GuestMemory's translations.
        var hosts = src
            .Where(l => !l.File.StartsWith("backend/PerfLab.Vhost/Memory/", StringComparison.Ordinal) && !s_ownPointers.ContainsKey(l.File)
                && Regex.IsMatch(l.Code, @"\bHostStart\b|\bLibC\.mmap\b"))
            .Select(l => $"{l.File}:{l.Line}: {l.Code.Trim()}")
            .ToList();
        Assert.True(hosts.Count == 0, "guest memory mapped or reached outside Memory/:\n" + string.Join("\n", hosts));
    }
}

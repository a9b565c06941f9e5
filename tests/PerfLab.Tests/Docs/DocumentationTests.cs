using System.Text;
using System.Text.RegularExpressions;
using PerfLab.Tests.Peers;
using Xunit;

namespace PerfLab.Tests.Docs;

/// <summary>
/// The README and docs/ stay navigable: every relative link and anchor resolves, every
/// "docs/<page>.md#anchor" a source file cites exists, and the README keeps the two commands.
/// </summary>
public sealed partial class DocumentationTests
{
    private static readonly string Root = PeerEnvironment.RepoRoot;

    public static TheoryData<string> MarkdownPages()
    {
        var data = new TheoryData<string>();
        data.Add("README.md");
        foreach (string f in Directory.EnumerateFiles(Path.Combine(Root, "docs"), "*.md", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(Root, f));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(MarkdownPages))]
    public void EveryRelativeLinkAndAnchorResolves(string page)
    {
        string path = Path.Combine(Root, page);
        string text = WithoutCode(File.ReadAllText(path));
        var broken = new List<string>();
        foreach (Match m in LinkPattern().Matches(text))
        {
            string target = m.Groups[1].Value;
            if (target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal))
            {
                continue;
            }
            // A same-page anchor resolves against the page itself.
            string? problem = Resolve(Path.GetDirectoryName(path)!, target.StartsWith('#') ? Path.GetFileName(path) + target : target);
            if (problem != null)
            {
                broken.Add($"{target}: {problem}");
            }
        }
        Assert.True(broken.Count == 0, $"{page} has broken links:\n" + string.Join("\n", broken));
    }

    [Fact]
    public void EveryDocsCitationInTheSourcesResolves()
    {
        var broken = new List<string>();
        foreach (string file in SourceFiles())
        {
            string text = File.ReadAllText(file);
            foreach (Match m in CitationPattern().Matches(text))
            {
                string? problem = Resolve(Root, m.Value);
                if (problem != null)
                {
                    broken.Add($"{Path.GetRelativePath(Root, file)}: {m.Value}: {problem}");
                }
            }
        }
        Assert.True(broken.Count == 0, "citations that do not resolve:\n" + string.Join("\n", broken));
    }

    [Fact]
    public void TheReadmeKeepsTheTwoCommandsAndStaysShort()
    {
        string readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        Assert.Contains("cd bench && dotnet run -c Release\n", readme, StringComparison.Ordinal);
        Assert.Contains("dotnet test\n", readme, StringComparison.Ordinal);
        int lines = readme.Count(c => c == '\n');
        Assert.True(lines <= 300, $"README.md has {lines} lines: move detail to docs/");
    }

    /// <summary>Files that still read the outside reference material, each until its owner brings what
    /// it needs into the repository. The list only shrinks (empty since reference/cring.c).</summary>
    private static readonly string[] StillOutside = [];

    [Fact]
    public void NothingRefersToAPathOutsideTheRepository()
    {
        // Built from parts so that this file does not match itself.
        string[] outside = ["../" + "shared", "/work" + "/"];
        var found = new List<string>();
        foreach (string file in RepositoryTextFiles())
        {
            string rel = Path.GetRelativePath(Root, file).Replace(Path.DirectorySeparatorChar, '/');
            if (StillOutside.Contains(rel))
            {
                continue;
            }
            string[] lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
            {
                if (outside.Any(o => lines[i].Contains(o, StringComparison.Ordinal)))
                {
                    found.Add($"{rel}:{i + 1}: {lines[i].Trim()}");
                }
            }
        }
        Assert.True(found.Count == 0, "a clone has only the repository:\n" + string.Join("\n", found));
    }

    [Theory]
    [InlineData("A Linux guest: `qemu-smoke`", "a-linux-guest-qemu-smoke")]
    [InlineData("vhost-user protocol features (GET/SET_PROTOCOL_FEATURES)", "vhost-user-protocol-features-getset_protocol_features")]
    [InlineData("What QEMU 7.2 sends", "what-qemu-72-sends")]
    [InlineData("Split ring: memory ordering", "split-ring-memory-ordering")]
    public void AnchorsAreGitHubs(string heading, string anchor) => Assert.Equal(anchor, Slug(heading));

    /// <summary>Null when <paramref name="target"/> (a path relative to <paramref name="dir"/>,
    /// with an optional #anchor) exists, else why not.</summary>
    private static string? Resolve(string dir, string target)
    {
        int hash = target.IndexOf('#', StringComparison.Ordinal);
        string file = hash < 0 ? target : target[..hash];
        string? anchor = hash < 0 ? null : target[(hash + 1)..];
        string full = Path.GetFullPath(Path.Combine(dir, file));
        if (!full.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal) && full != Root)
        {
            return "points outside the repository";
        }
        if (!File.Exists(full) && !Directory.Exists(full))
        {
            return "no such file";
        }
        if (anchor == null)
        {
            return null;
        }
        if (!full.EndsWith(".md", StringComparison.Ordinal))
        {
            return "an anchor into a file that is not Markdown";
        }
        return Anchors(full).Contains(anchor) ? null : $"no heading with anchor #{anchor} in {Path.GetRelativePath(Root, full)}";
    }

    private static HashSet<string> Anchors(string markdownFile)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string line in WithoutCode(File.ReadAllText(markdownFile)).Split('\n'))
        {
            Match h = HeadingPattern().Match(line);
            if (!h.Success)
            {
                continue;
            }
            string slug = Slug(h.Groups[1].Value);
            int n = seen.GetValueOrDefault(slug);
            seen[slug] = n + 1;
            anchors.Add(n == 0 ? slug : $"{slug}-{n}");
        }
        return anchors;
    }

    /// <summary>GitHub's heading anchor: lower case, letters, digits, '-' and '_' kept, spaces to '-'.</summary>
    private static string Slug(string heading)
    {
        var sb = new StringBuilder();
        foreach (char c in heading.Trim().ToLowerInvariant())
        {
            if (char.IsLetterOrDigit(c) || c == '-' || c == '_')
            {
                sb.Append(c);
            }
            else if (c == ' ')
            {
                sb.Append('-');
            }
        }
        return sb.ToString();
    }

    /// <summary>Fenced blocks removed (their '#' lines are not headings, their brackets not links).</summary>
    private static string WithoutCode(string markdown) => FencePattern().Replace(markdown, "");

    private static IEnumerable<string> SourceFiles()
    {
        string[] folders = ["backend", "loadgen", "peers", "bench", "reports", "tests", "scripts", ".ci"];
        foreach (string folder in folders)
        {
            string dir = Path.Combine(Root, folder);
            if (!Directory.Exists(dir))
            {
                continue;
            }
            foreach (string f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
            {
                string rel = Path.GetRelativePath(Root, f);
                if (rel.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                    || rel.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                    || rel.Contains($"{Path.DirectorySeparatorChar}.build{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                    || rel.Contains($"{Path.DirectorySeparatorChar}corpus{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                    || rel.Contains($"{Path.DirectorySeparatorChar}regressions{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
                {
                    continue;
                }
                string ext = Path.GetExtension(f);
                if (ext is ".cs" or ".csproj" or ".props" or ".sh" or ".c" or "")
                {
                    yield return f;
                }
            }
        }
    }

    /// <summary>Every text file a clone carries: sources, scripts, docs, project files (build
    /// output, generated reports and fuzzing output left out).</summary>
    private static IEnumerable<string> RepositoryTextFiles()
    {
        string[] skipDirs = ["bin", "obj", ".git", ".build", "out", "TestResults", "BenchmarkDotNet.Artifacts"];
        string[] binary = [".png", ".dll", ".pdb", ".so", ".gz", ".xz", ".zst", ".db"];
        var pending = new Stack<string>([Root]);
        while (pending.Count > 0)
        {
            string dir = pending.Pop();
            foreach (string sub in Directory.EnumerateDirectories(dir))
            {
                string name = Path.GetFileName(sub);
                bool generatedReport = Path.GetFileName(dir) == "reports" && (name.StartsWith("20", StringComparison.Ordinal) || name is "latest" or "raw");
                if (!skipDirs.Contains(name) && !generatedReport && !new DirectoryInfo(sub).Attributes.HasFlag(FileAttributes.ReparsePoint))
                {
                    pending.Push(sub);
                }
            }
            foreach (string f in Directory.EnumerateFiles(dir))
            {
                if (Path.GetFileName(f) != ".git" && !binary.Contains(Path.GetExtension(f)) && new FileInfo(f).Length < 4 << 20)
                {
                    yield return f;
                }
            }
        }
    }

    [GeneratedRegex(@"!?\[[^\]]*\]\(([^)\s]+)\)")]
    private static partial Regex LinkPattern();

    [GeneratedRegex(@"docs/[A-Za-z0-9_./-]+\.md(#[A-Za-z0-9_-]+)?")]
    private static partial Regex CitationPattern();

    [GeneratedRegex(@"^#{1,6} +(.+?) *#*$")]
    private static partial Regex HeadingPattern();

    [GeneratedRegex(@"^```.*?^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex FencePattern();
}

using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using PerfLab.Peers;
using Xunit;

namespace PerfLab.Tests.Peers;

/// <summary>What the real peers need, and how the tests run PerfLab's peer scripts.</summary>
public static class PeerEnvironment
{
    public const string InstallHint = "run scripts/install-peers";

    /// <summary>CPU for testpmd (it busy-polls its forwarding lcore there) and for ours.</summary>
    public static int PeerCpu => Environment.ProcessorCount > 1 ? 1 : 0;

    public static int OwnCpu => 0;

    /// <summary>Null when QEMU can boot a guest here, else why not.</summary>
    public static string? QemuMissing()
    {
        if (OnPath("qemu-system-x86_64") == null)
        {
            return $"QEMU (qemu-system-x86_64) is not installed: {InstallHint}";
        }
        if (OnPath("busybox") == null || OnPath("cpio") == null)
        {
            return $"busybox-static or cpio is not installed: {InstallHint}";
        }
        string? kernel = Directory.Exists("/boot") ? Directory.GetFiles("/boot", "vmlinuz-*").OrderDescending().FirstOrDefault() : null;
        if (kernel == null)
        {
            return $"no guest kernel in /boot (linux-image-amd64): {InstallHint}";
        }
        try
        {
            using var f = File.OpenRead(kernel);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"{kernel} is not readable by this user (root-only on Debian)";
        }
        return null;
    }

    /// <summary>Null when dpdk-testpmd is installed, else why not.</summary>
    public static string? TestpmdMissing() =>
        Testpmd.IsInstalled ? null : $"DPDK (dpdk-testpmd) is not installed: {InstallHint}";

    public static string? OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    public static string RepoRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "PerfLab.sln")))
                {
                    return d.FullName;
                }
            }
            throw new InvalidOperationException("PerfLab.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>
    /// Runs scripts/NAME with the test build's perflab-backend and perflab-loadgen (no Release
    /// build). Past <paramref name="limit"/> the script gets SIGTERM (its trap stops what it
    /// started, by PID), then the tree is killed, and the test fails with the output so far.
    /// </summary>
    public static ScriptResult RunScript(string name, TimeSpan limit, params string[] args) =>
        RunScript(new Dictionary<string, string>(), name, limit, args);

    /// <summary>As <see cref="RunScript(string, TimeSpan, string[])"/>, with
    /// <paramref name="env"/> added to the script's environment.</summary>
    public static ScriptResult RunScript(IReadOnlyDictionary<string, string> env, string name, TimeSpan limit, params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(RepoRoot, "scripts", name));
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["PERFLAB_BACKEND_BIN"] = Path.Combine(AppContext.BaseDirectory, "perflab-backend");
        psi.Environment["PERFLAB_LOADGEN_BIN"] = Path.Combine(AppContext.BaseDirectory, "perflab-loadgen");
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }
        var output = new StringBuilder();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start bash");
        p.OutputDataReceived += (_, e) => { if (e.Data != null) { lock (output) { output.AppendLine(e.Data); } } };
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) { lock (output) { output.AppendLine(e.Data); } } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(limit))
        {
            _ = Mono.Unix.Native.Syscall.kill(p.Id, Mono.Unix.Native.Signum.SIGTERM);
            if (!p.WaitForExit(15_000))
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit(5000);
            }
            string soFar;
            lock (output)
            {
                soFar = output.ToString();
            }
            Assert.Fail($"scripts/{name} did not finish within {limit.TotalSeconds:F0} s:\n{soFar}");
        }
        p.WaitForExit();
        lock (output)
        {
            return new ScriptResult(p.ExitCode, output.ToString());
        }
    }
}

/// <summary>A script's exit code and its output (stdout and stderr, interleaved).</summary>
public sealed record ScriptResult(int ExitCode, string Output)
{
    /// <summary>The integer after <c>key=</c> on the first line that starts with
    /// <paramref name="linePrefix"/>.</summary>
    public long Number(string linePrefix, string key)
    {
        string line = Line(linePrefix);
        Match m = Regex.Match(line, $@"(?:^|[\s,=]){Regex.Escape(key)}=(\d+)");
        Assert.True(m.Success, $"no {key}= in '{line}'\n{Output}");
        return long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    public string Line(string linePrefix)
    {
        string? line = Output.Split('\n').FirstOrDefault(l => l.StartsWith(linePrefix, StringComparison.Ordinal));
        Assert.True(line != null, $"no line starting with '{linePrefix}':\n{Output}");
        return line!.TrimEnd('\r');
    }

    public void AssertPassed()
    {
        Assert.True(ExitCode == 0, $"exit {ExitCode}:\n{Output}");
    }
}

/// <summary>A fact that needs QEMU and a guest kernel (<see cref="PeerFactAttribute"/>).</summary>
public sealed class RequiresQemuFactAttribute() : PeerFactAttribute(PeerEnvironment.QemuMissing());

/// <summary>A fact that needs dpdk-testpmd (<see cref="PeerFactAttribute"/>).</summary>
public sealed class RequiresTestpmdFactAttribute() : PeerFactAttribute(PeerEnvironment.TestpmdMissing());

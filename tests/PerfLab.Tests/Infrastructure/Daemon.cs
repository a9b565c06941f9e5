using System.Diagnostics;
using System.Text;

namespace PerfLab.Tests.Infrastructure;

/// <summary>
/// Launches one of PerfLab's programs (perflab-backend, perflab-loadgen) as a separate
/// process with <c>dotnet NAME.dll</c> from the test output folder, captures its output, and
/// kills it (whole tree) on dispose. Every wait is bounded.
/// </summary>
public sealed class Daemon : IDisposable
{
    private readonly Process _p;
    private readonly StringBuilder _out = new();
    private readonly StringBuilder _err = new();

    public Daemon(string program, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, program + ".dll");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(dll);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["DOTNET_TieredPGO"] = "1";
        _p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {program}");
        _p.OutputDataReceived += (_, e) => { if (e.Data != null) { lock (_out) { _out.AppendLine(e.Data); } } };
        _p.ErrorDataReceived += (_, e) => { if (e.Data != null) { lock (_err) { _err.AppendLine(e.Data); } } };
        _p.BeginOutputReadLine();
        _p.BeginErrorReadLine();
    }

    public int Pid => _p.Id;

    public bool HasExited => _p.HasExited;

    public string Stdout { get { lock (_out) { return _out.ToString(); } } }

    public string Stderr { get { lock (_err) { return _err.ToString(); } } }

    /// <summary>Waits for exit; returns the exit code. Throws (after killing) on timeout.</summary>
    public int WaitForExit(TimeSpan limit)
    {
        if (!_p.WaitForExit(limit))
        {
            Kill();
            throw new TimeoutException($"process {_p.Id} did not exit within {limit.TotalSeconds:F0} s\nstdout:\n{Stdout}\nstderr:\n{Stderr}");
        }
        _p.WaitForExit(); // flush the async readers
        return _p.ExitCode;
    }

    public void Signal(int signal) => _ = Mono.Unix.Native.Syscall.kill(_p.Id, (Mono.Unix.Native.Signum)signal);

    public void Kill()
    {
        try
        {
            if (!_p.HasExited)
            {
                _p.Kill(entireProcessTree: true);
                _p.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    public static bool WaitForFile(string path, TimeSpan limit) => Timeouts.WaitUntil(() => File.Exists(path), limit);

    /// <summary>Runs perflab-loadgen with <paramref name="args"/> (and <c>--packed</c> when
    /// asked) to its end within <see cref="Timeouts.Process"/>, which must be 0, and returns its
    /// JSON result (the arguments must ask for <c>--json</c>).</summary>
    public static PerfLab.LoadGen.LoadGenResult RunLoadGen(IEnumerable<string> args, bool packed)
    {
        using var lg = new Daemon("perflab-loadgen", [.. args, .. packed ? (string[])["--packed"] : []]);
        int rc = lg.WaitForExit(Timeouts.Process);
        Xunit.Assert.True(rc == 0, $"loadgen exit {rc}\n{lg.Stdout}\n{lg.Stderr}");
        return PerfLab.LoadGen.LoadGenResult.FromJson(lg.Stdout);
    }

    public void Dispose()
    {
        Kill();
        _p.Dispose();
    }
}

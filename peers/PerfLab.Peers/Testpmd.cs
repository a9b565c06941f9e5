using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Mono.Unix.Native;
using PerfLab.Vhost.Interop;

namespace PerfLab.Peers;

/// <summary>
/// Launches and drives DPDK's <c>dpdk-testpmd</c> as a real peer: a vhost-user back-end
/// (<c>net_vhost</c> PMD, the baseline the bench compares PerfLab's back-end with) or a
/// virtio-user front-end (<c>net_virtio_user</c>) against PerfLab's back-end.
/// <para>
/// How testpmd runs, and why (each fact cost a debugging session): no hugepages
/// (<c>--no-huge -m 1024 --no-pci --no-shconf --no-telemetry</c> and a unique
/// <c>--file-prefix</c>); a forwarding lcore besides the main one, both on one CPU
/// (<c>--lcores '0@C,1@C'</c> under <c>taskset -c C</c>): the forwarding lcore busy-polls, so
/// whatever shares that CPU starves; <c>--disable-link-check</c> (else the vhost PMD spins
/// about 9 s at start-up); <c>stdbuf -oL</c> (else the output arrives only at exit);
/// <c>--port-topology=loop</c> (a single port forwards to itself); interactive mode, driven
/// through a FIFO that testpmd opens read-write, so it never sees EOF.
/// </para>
/// Every wait is bounded; <see cref="Dispose"/> quits testpmd, then stops it by PID.
/// </summary>
public sealed class Testpmd : IDisposable
{
    private const string BinaryName = "dpdk-testpmd";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(10);
    private static int s_instances;

    private readonly Process _process;
    private readonly string _workDir;
    private readonly bool _ownsLog;
    private readonly string _fifo;
    private readonly string _log;
    private readonly string _prefix;
    private int _fifoFd;
    private bool _disposed;

    private Testpmd(string vdev, int cpu, IReadOnlyList<string> appArgs, string? logPath)
    {
        string binary = FindBinary() ?? throw new InvalidOperationException($"{BinaryName} is not installed: run scripts/install-peers");
        ArgumentOutOfRangeException.ThrowIfNegative(cpu);
        _workDir = Directory.CreateTempSubdirectory("perflab-testpmd-").FullName;
        _fifo = Path.Combine(_workDir, "stdin.fifo");
        _ownsLog = logPath == null;
        _log = logPath ?? Path.Combine(_workDir, "testpmd.log");
        _prefix = $"perflab-{Environment.ProcessId}-{Interlocked.Increment(ref s_instances)}";
        if (Syscall.mkfifo(_fifo, FilePermissions.S_IRUSR | FilePermissions.S_IWUSR) != 0)
        {
            throw new IOException($"mkfifo {_fifo}: {Stdlib.GetLastError()}");
        }
        // Our own read-write descriptor: writing never blocks, even if testpmd is gone.
        _fifoFd = Syscall.open(_fifo, OpenFlags.O_RDWR | OpenFlags.O_CLOEXEC);
        if (_fifoFd < 0)
        {
            throw new IOException($"open {_fifo}: {Stdlib.GetLastError()}");
        }
        string c = cpu.ToString(CultureInfo.InvariantCulture);
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        // sh only sets up the redirections, then exec: the PID is testpmd's own.
        foreach (string a in new[] { "-c", "f=$1; l=$2; shift 2; exec \"$@\" <>\"$f\" >\"$l\" 2>&1", "sh", _fifo, _log,
                     "taskset", "-c", c, "stdbuf", "-oL", binary,
                     "--no-huge", "-m", "1024", "--no-pci", "--no-shconf", "--no-telemetry",
                     "--file-prefix", _prefix, "--lcores", $"0@{c},1@{c}", "--vdev", vdev,
                     "--", "-i", "--port-topology=loop", "--disable-link-check", "--nb-cores=1" })
        {
            psi.ArgumentList.Add(a);
        }
        foreach (string a in appArgs)
        {
            psi.ArgumentList.Add(a);
        }
        File.WriteAllText(_log, "");
        try
        {
            _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start /bin/sh for testpmd");
        }
        catch
        {
            Cleanup();
            throw;
        }
    }

    /// <summary><c>dpdk-testpmd</c> on PATH (or in /usr/bin); null if absent.</summary>
    public static string? FindBinary()
    {
        string[] dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        foreach (string dir in dirs.Append("/usr/bin"))
        {
            string p = Path.Combine(dir, BinaryName);
            if (File.Exists(p) && Syscall.access(p, AccessModes.X_OK) == 0)
            {
                return p;
            }
        }
        return null;
    }

    public static bool IsInstalled => FindBinary() != null;

    /// <summary>DPDK's version (e.g. "22.11.11") from dpkg, else pkg-config; null if unknown.</summary>
    public static string? Version()
    {
        string? v = RunQuietly("dpkg-query", "-W", "-f=${Version}", "dpdk");
        if (!string.IsNullOrWhiteSpace(v))
        {
            // Debian: [epoch:]upstream[-revision], e.g. 22.11.11-0+deb12u1.
            Match m = Regex.Match(v, @"^(?:\d+:)?(\d+(?:\.\d+)+)");
            if (m.Success)
            {
                return m.Groups[1].Value;
            }
        }
        v = RunQuietly("pkg-config", "--modversion", "libdpdk");
        return string.IsNullOrWhiteSpace(v) ? null : v.Trim();
    }

    /// <summary>
    /// Starts testpmd as a vhost-user back-end listening on <paramref name="socketPath"/>
    /// (<c>--vdev net_vhost0,iface=PATH,queues=N</c>), forwarding each port back to itself in
    /// <paramref name="forwardMode"/> (io, macswap, ...), and starts forwarding. Returns once
    /// the socket exists. Note that the vhost PMD drops frames when the guest has no RX buffer
    /// posted: run the load generator with <c>--inflight</c> at most the ring size.
    /// </summary>
    public static Testpmd StartVhostBackend(string socketPath, string forwardMode = "macswap", int queues = 1, int cpu = 1, string? logPath = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queues, 1);
        string q = queues.ToString(CultureInfo.InvariantCulture);
        var t = new Testpmd($"net_vhost0,iface={socketPath},queues={q}", cpu,
            [$"--forward-mode={forwardMode}", $"--rxq={q}", $"--txq={q}"], logPath);
        try
        {
            t.WaitFor(() => t.HasPrompt, StartTimeout, "testpmd's prompt");
            t.CheckStarted(forwardMode);
            t.WaitFor(() => IsSocket(socketPath), StartTimeout, $"the vhost-user socket {socketPath}");
            t.Start();
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Starts testpmd as a virtio-user front-end (<c>--vdev net_virtio_user0,path=PATH</c>)
    /// in <paramref name="forwardMode"/> (txonly, io, ...) with <paramref name="frameSize"/>-byte
    /// generated frames. Client mode (default): returns once testpmd connected to the back-end
    /// listening on <paramref name="socketPath"/> and shows its prompt. Server mode: returns
    /// once testpmd listens; it finishes starting when the back-end connects, and commands sent
    /// meanwhile wait in the FIFO. Forwarding is not started: call <see cref="Start"/>.
    /// </summary>
    public static Testpmd StartVirtioUserFrontend(string socketPath, string forwardMode = "txonly", int queues = 1, int cpu = 0, bool server = false, int frameSize = 64, string? logPath = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queues, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(frameSize, 60);
        string q = queues.ToString(CultureInfo.InvariantCulture);
        string vdev = $"net_virtio_user0,path={socketPath},queues={q},queue_size=256" + (server ? ",server=1" : "");
        var t = new Testpmd(vdev, cpu,
            [$"--forward-mode={forwardMode}", $"--rxq={q}", $"--txq={q}", $"--txpkts={frameSize.ToString(CultureInfo.InvariantCulture)}"], logPath);
        try
        {
            if (server)
            {
                t.WaitFor(() => IsSocket(socketPath), StartTimeout, $"testpmd listening on {socketPath}");
            }
            else
            {
                t.WaitFor(() => t.HasPrompt, StartTimeout, "testpmd's prompt");
                t.CheckStarted(forwardMode);
            }
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    public int Pid => _process.Id;

    /// <summary>Everything testpmd printed so far (its log file).</summary>
    public string Output
    {
        get
        {
            try
            {
                using var fs = new FileStream(_log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                return new StreamReader(fs).ReadToEnd();
            }
            catch (IOException)
            {
                return "";
            }
        }
    }

    /// <summary>testpmd reaches its prompt even when its port failed to attach or the forward
    /// mode is unknown: both would make a silent, useless peer.</summary>
    private void CheckStarted(string forwardMode)
    {
        string output = Output;
        if (output.Contains("No probed ethernet devices", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"testpmd (pid {Pid}) could not attach its port:\n{output}");
        }
        if (output.Contains($"Invalid {forwardMode} packet forwarding mode", StringComparison.Ordinal))
        {
            throw new ArgumentException($"testpmd does not know the forwarding mode '{forwardMode}':\n{output}", nameof(forwardMode));
        }
    }

    private bool HasPrompt => Output.Contains("testpmd> ", StringComparison.Ordinal);

    /// <summary>Sends one interactive command (a line) through the FIFO.</summary>
    public void Command(string line)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (line.Contains('\n', StringComparison.Ordinal))
        {
            throw new ArgumentException("one line only", nameof(line));
        }
        byte[] bytes = System.Text.Encoding.ASCII.GetBytes(line + "\n");
        long n = WriteFifo(bytes);
        if (n != bytes.Length)
        {
            throw new IOException($"writing to testpmd's FIFO: {(n < 0 ? Stdlib.GetLastError().ToString() : $"{n} of {bytes.Length} bytes")}");
        }
    }

    private unsafe long WriteFifo(byte[] bytes)
    {
        nint n;
        fixed (byte* b = bytes)
        {
            do
            {
                n = LibC.write(_fifoFd, b, bytes.Length);
            }
            while (n < 0 && LibC.Errno == LibC.EINTR);
        }
        return n;
    }

    /// <summary><c>start</c>, or <c>start tx_first</c> (one burst per stream first: the way
    /// io forwarding gets a ping-pong going against a loopback back-end).</summary>
    public void Start(bool txFirst = false) => Command(txFirst ? "start tx_first" : "start");

    public void StopForwarding() => Command("stop");

    /// <summary><c>show port stats PORT</c>, parsed (bounded wait for the answer).</summary>
    public PortStats ReadPortStats(int port = 0)
    {
        int from = Output.Length;
        Command($"show port stats {port.ToString(CultureInfo.InvariantCulture)}");
        PortStats? stats = null;
        WaitFor(() => (stats = PortStats.TryParse(Output[Math.Min(from, Output.Length)..], port)) != null, CommandTimeout, $"the stats of port {port}");
        return stats!.Value;
    }

    /// <summary><c>quit</c>; then SIGTERM and SIGKILL by PID if it lingers; removes the FIFO,
    /// the log (unless the caller named it) and testpmd's runtime directory.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        try
        {
            if (!_process.HasExited)
            {
                TryQuit();
                if (!_process.WaitForExit(5000))
                {
                    _ = Syscall.kill(_process.Id, Signum.SIGTERM);
                    if (!_process.WaitForExit(3000))
                    {
                        _ = Syscall.kill(_process.Id, Signum.SIGKILL);
                        _process.WaitForExit(3000);
                    }
                }
            }
        }
        finally
        {
            _process.Dispose();
            Cleanup();
        }
    }

    private void TryQuit()
    {
        _ = WriteFifo("quit\n"u8.ToArray());
    }

    private void Cleanup()
    {
        if (_fifoFd >= 0)
        {
            _ = Syscall.close(_fifoFd);
            _fifoFd = -1;
        }
        TryDelete(_fifo);
        if (_ownsLog)
        {
            TryDelete(_log);
        }
        try
        {
            Directory.Delete(_workDir, recursive: false);
        }
        catch (IOException)
        {
        }
        // EAL's runtime directory for our unique prefix (empty with --no-shconf, but created).
        string? xdg = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        foreach (string? root in new[] { "/var/run/dpdk", xdg != null ? Path.Combine(xdg, "dpdk") : null, "/tmp/dpdk" })
        {
            if (root == null)
            {
                continue;
            }
            string d = Path.Combine(root, _prefix);
            try
            {
                if (Directory.Exists(d))
                {
                    Directory.Delete(d, recursive: true);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private void WaitFor(Func<bool> condition, TimeSpan limit, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"testpmd (pid {_process.Id}) exited with {_process.ExitCode} while waiting for {what}:\n{Output}");
            }
            if (sw.Elapsed > limit)
            {
                throw new TimeoutException($"testpmd (pid {_process.Id}): no {what} within {limit.TotalSeconds:F0} s:\n{Output}");
            }
            Thread.Sleep(20);
        }
    }

    private static bool IsSocket(string path) => Syscall.stat(path, out Stat st) == 0 && (st.st_mode & FilePermissions.S_IFMT) == FilePermissions.S_IFSOCK;

    private static string? RunQuietly(string program, params string[] args)
    {
        try
        {
            var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in args)
            {
                psi.ArgumentList.Add(a);
            }
            using Process p = Process.Start(psi)!;
            Task<string> output = p.StandardOutput.ReadToEndAsync();
            _ = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(5000))
            {
                p.Kill();
                return null;
            }
            return p.ExitCode == 0 && output.Wait(1000) ? output.Result : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // not installed
        }
    }
}

/// <summary>One port's counters from testpmd's <c>show port stats</c>.</summary>
public readonly record struct PortStats(long RxPackets, long RxMissed, long RxErrors, long TxPackets, long TxErrors)
{
    private static readonly Regex Block = new(
        @"NIC statistics for port (?<port>\d+)\s+#+\s*\r?\n(?<body>.*?)\r?\n\s*#{20,}", RegexOptions.Singleline | RegexOptions.CultureInvariant);

    /// <summary>Parses the first complete <c>show port stats</c> block for
    /// <paramref name="port"/> in <paramref name="text"/>; null if there is none yet.</summary>
    public static PortStats? TryParse(string text, int port)
    {
        foreach (Match m in Block.Matches(text))
        {
            if (m.Groups["port"].Value != port.ToString(CultureInfo.InvariantCulture))
            {
                continue;
            }
            string body = m.Groups["body"].Value;
            return new PortStats(Field(body, "RX-packets"), Field(body, "RX-missed"), Field(body, "RX-errors"),
                Field(body, "TX-packets"), Field(body, "TX-errors"));
        }
        return null;
    }

    private static long Field(string body, string name)
    {
        Match m = Regex.Match(body, Regex.Escape(name) + @":\s*(\d+)", RegexOptions.CultureInvariant);
        return m.Success ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }
}

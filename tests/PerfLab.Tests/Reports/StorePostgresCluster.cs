using System.Diagnostics;
using Npgsql;
using PerfLab.Reports.Store;
using PerfLab.Tests.Peers;

namespace PerfLab.Tests.Reports;

/// <summary>The store tests that need a real PostgreSQL server: skipped, saying why, where
/// the server is not installed; failed instead under CI=true.</summary>
public sealed class RequiresPostgresFactAttribute() : PeerFactAttribute(StorePostgresCluster.Missing());

/// <summary>
/// A throw-away PostgreSQL cluster for the tests: initdb in a private temporary folder, the
/// server listening on a UNIX socket in that folder only (no TCP port to collide with), password
/// authentication (so the wrong-credentials case is real), started on first use and stopped by
/// its PID when the tests are done. PostgreSQL refuses to run as root, so as root it runs as the
/// postgres user Debian's package creates (runuser).
/// </summary>
public sealed class StorePostgresCluster : IDisposable
{
    public const string User = "perflab";
    public const string Password = "perflab-test-password";

    private readonly object _gate = new();
    private string? _dir;
    private int _port;
    private int _databases;

    /// <summary>The server's programs (initdb, pg_ctl): Debian keeps them off PATH, in
    /// /usr/lib/postgresql/VERSION/bin; the newest version wins.</summary>
    public static string? BinDir()
    {
        const string debian = "/usr/lib/postgresql";
        if (Directory.Exists(debian))
        {
            string? best = Directory.EnumerateDirectories(debian)
                .Where(d => File.Exists(Path.Combine(d, "bin", "initdb")) && File.Exists(Path.Combine(d, "bin", "pg_ctl")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d).Split('.')[0], out int v) ? v : 0)
                .FirstOrDefault();
            if (best != null)
            {
                return Path.Combine(best, "bin");
            }
        }
        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
            .FirstOrDefault(d => d.Length > 0 && File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")));
    }

    private static bool IsRoot => Environment.UserName == "root";

    /// <summary>Null when a cluster can be started here, else why not (file checks only).</summary>
    public static string? Missing()
    {
        if (BinDir() is null)
        {
            return "the PostgreSQL server (initdb, pg_ctl) is not installed: run scripts/install-peers (Debian's postgresql package)";
        }
        if (IsRoot && (!File.Exists("/usr/sbin/runuser") || !File.ReadAllText("/etc/passwd").Contains("\npostgres:", StringComparison.Ordinal)))
        {
            return "running as root, PostgreSQL needs the postgres user and runuser to start a cluster: run scripts/install-peers";
        }
        return null;
    }

    /// <summary>A new empty database on the cluster (started on first call), as a store location.</summary>
    public StoreLocation NewDatabase(string? password = Password)
    {
        string name;
        lock (_gate)
        {
            EnsureStarted();
            name = $"store_{++_databases}";
        }
        using (var c = new NpgsqlConnection(ConnectionString("postgres", Password)))
        {
            c.Open();
            using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", c);
            cmd.ExecuteNonQuery();
        }
        return StoreLocation.Parse(ConnectionString(name, password), "/nonexistent");
    }

    public string ConnectionString(string database, string? password) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = _dir,
            Port = _port,
            Username = User,
            Password = password,
            Database = database,
            Pooling = false,
            Timeout = 15,
        }.ConnectionString;

    private void EnsureStarted()
    {
        if (_dir != null)
        {
            return;
        }
        string bin = BinDir() ?? throw new InvalidOperationException(Missing());
        string dir = Directory.CreateTempSubdirectory("pl-pg-").FullName;
        // The socket's name only: listen_addresses is empty, so no TCP port is used.
        int port = 50000 + Environment.ProcessId % 10000;
        string pwfile = Path.Combine(dir, "pw");
        File.WriteAllText(pwfile, Password + "\n");
        if (IsRoot)
        {
            Run("chown", ["-R", "postgres:postgres", dir], asPostgres: false);
        }
        Run(Path.Combine(bin, "initdb"), ["-D", Path.Combine(dir, "data"), "-U", User, "--auth=scram-sha-256", "--pwfile=" + pwfile, "-E", "UTF8", "--no-sync"], IsRoot);
        Run(Path.Combine(bin, "pg_ctl"), ["-D", Path.Combine(dir, "data"), "-l", Path.Combine(dir, "log"), "-w", "-t", "60",
            "-o", $"-k {dir} -c listen_addresses='' -p {port} -c fsync=off", "start"], IsRoot);
        _dir = dir;
        _port = port;
    }

    private static void Run(string file, string[] args, bool asPostgres)
    {
        var psi = new ProcessStartInfo(asPostgres ? "/usr/sbin/runuser" : file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (asPostgres)
        {
            foreach (string a in new[] { "-u", "postgres", "--", file })
            {
                psi.ArgumentList.Add(a);
            }
        }
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string err = p.StandardError.ReadToEnd();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} did not finish in 120 s");
        }
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} failed ({p.ExitCode}): {err}{stdout.Result}");
        }
    }

    public void Dispose()
    {
        if (_dir is not { } dir)
        {
            return;
        }
        string data = Path.Combine(dir, "data");
        try
        {
            Run(Path.Combine(BinDir()!, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "-t", "30", "stop"], IsRoot);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            // pg_ctl could not stop it: the postmaster's PID is the first line of postmaster.pid.
            string pidFile = Path.Combine(data, "postmaster.pid");
            if (File.Exists(pidFile) && int.TryParse(File.ReadLines(pidFile).First(), out int pid))
            {
                try
                {
                    Process.GetProcessById(pid).Kill();
                }
                catch (ArgumentException)
                {
                }
            }
        }
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

using System.Data.Common;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Store;

/// <summary>
/// The results store: every recorded run with its machine facts, configurations, rounds and
/// per-round samples, in SQLite (a file, created on first use) or PostgreSQL (a team's
/// database), through the same plain SQL. Opening it brings its schema up to date
/// (<see cref="Migrations"/>) or refuses, changing nothing, when it is not a PerfLab store or
/// is newer than this tool. A run is written in one transaction: a killed writer leaves none
/// of it. Any failure is a <see cref="StoreException"/> that says what to do.
/// </summary>
public sealed class ResultsStore : IDisposable
{
    private static readonly byte[] SqliteMagic = "SQLite format 3\0"u8.ToArray();

    private readonly DbConnection _db;

    public StoreLocation Location { get; }
    public SqlDialect Dialect { get; }

    /// <summary>The schema version found when opened (0: a new store), before migrating.</summary>
    public int FoundVersion { get; private set; }

    private ResultsStore(StoreLocation at, DbConnection db)
    {
        Location = at;
        Dialect = SqlDialect.For(at.Kind);
        _db = db;
    }

    /// <summary>Opens the store, creating it when <paramref name="create"/> (a run to record)
    /// and bringing its schema up to <paramref name="upTo"/> (tests stop at an older version).</summary>
    public static ResultsStore Open(StoreLocation at, bool create = true, int? upTo = null)
    {
        if (at.Kind == StoreKind.Sqlite)
        {
            CheckSqliteFile(at, create);
        }
        SqlDialect dialect = SqlDialect.For(at.Kind);
        DbConnection db = dialect.Connect(at);
        var store = new ResultsStore(at, db);
        try
        {
            db.Open();
            if (at.Kind == StoreKind.Sqlite)
            {
                Sql.Execute(db, null, "PRAGMA foreign_keys = ON");
            }
            store.Migrate(upTo ?? Migrations.Latest);
            return store;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            store.Dispose();
            throw StoreErrors.Describe(e, at);
        }
    }

    /// <summary>Refuses, before SQLite touches it, a file that is not a SQLite database; and a
    /// missing file when nothing is to be recorded.</summary>
    private static void CheckSqliteFile(StoreLocation at, bool create)
    {
        string path = at.FilePath!;
        if (!File.Exists(path))
        {
            if (!create)
            {
                throw new StoreException($"no results store at {path}: the bench records every run there (or give --store), and `perflab-report import DIR` records a report folder");
            }
            if (Directory.Exists(path))
            {
                throw new StoreException($"{path} is a folder: --store wants a SQLite file or a PostgreSQL connection string");
            }
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            return;
        }
        var head = new byte[SqliteMagic.Length];
        int n;
        using (var f = File.OpenRead(path))
        {
            n = f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        if (n > 0 && (n < head.Length || !head.AsSpan().SequenceEqual(SqliteMagic)))
        {
            throw new StoreException($"{path} is not a SQLite database (a corrupt or foreign file): it was left untouched; give --store another file");
        }
    }

    private void Migrate(int target)
    {
        using DbTransaction tx = Dialect.BeginExclusive(_db);
        var tables = Sql.Strings(_db, tx, Dialect.ListTablesSql).ToHashSet(StringComparer.Ordinal);
        int version = 0;
        if (tables.Contains(Migrations.VersionTable))
        {
            version = Convert.ToInt32(Sql.Scalar(_db, tx, $"SELECT MAX(version) FROM {Migrations.VersionTable}") ?? 0, System.Globalization.CultureInfo.InvariantCulture);
            if (version > Migrations.Latest)
            {
                throw new StoreException($"{Location.Display} has schema version {version}, newer than this perflab-report knows ({Migrations.Latest}): it was left untouched; update PerfLab (git pull) to use it");
            }
        }
        else if (Dialect.IsForeign(tables, Migrations.Tables))
        {
            throw new StoreException($"{Location.Display} is not a PerfLab results store (it has tables {string.Join(", ", tables.Order())} but no {Migrations.VersionTable}): it was left untouched; give --store another {(Location.Kind == StoreKind.Sqlite ? "file" : "database")}");
        }
        FoundVersion = version;
        foreach (Migration m in Migrations.All.Where(m => m.Version > version && m.Version <= target))
        {
            foreach (string statement in m.Statements(Dialect))
            {
                Sql.Execute(_db, tx, statement);
            }
            Sql.Execute(_db, tx, $"INSERT INTO {Migrations.VersionTable} (version, applied_utc, tool) VALUES (@v, @t, @tool)",
                ("@v", m.Version), ("@t", DateTime.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture)), ("@tool", $"perflab-report: {m.What}"));
        }
        tx.Commit();
    }

    /// <summary>The schema version the store has now.</summary>
    public int Version() => Guard(() => Convert.ToInt32(Sql.Scalar(_db, null, $"SELECT MAX(version) FROM {Migrations.VersionTable}") ?? 0, System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Records a run in one transaction; a run already stored (the same digest) is
    /// not stored again. Returns its id and whether it was already there.</summary>
    public (long Id, bool Existed) Record(Report report, string source) => Guard(() => RunWriter.Write(_db, Dialect, report, source, Version() >= 2));

    /// <summary>A stored run, as a report compare and history read like a folder's.</summary>
    public Report Load(long id) => Guard(() => RunReader.Read(_db, id, Version() >= 2) ?? throw new StoreException($"{Location.Display} has no run {id} (see `perflab-report history`)"));

    /// <summary>The stored runs, oldest first, of one host and/or with one configuration.</summary>
    public List<StoredRun> Runs(string? host = null, string? configId = null) => Guard(() => RunReader.List(_db, host, configId));

    private T Guard<T>(Func<T> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw StoreErrors.Describe(e, Location);
        }
    }

    public void Dispose() => _db.Dispose();
}

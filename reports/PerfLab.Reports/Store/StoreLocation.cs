namespace PerfLab.Reports.Store;

/// <summary>The two kinds of results store.</summary>
public enum StoreKind
{
    Sqlite,
    Postgres,
}

/// <summary>
/// Where the results go, from --store (or PERFLAB_STORE): nothing means the embedded default,
/// a SQLite file reports/results.db; a path or "Data Source=..." another SQLite file; a
/// connection string with Host= (or Server=) a PostgreSQL database (Npgsql's keywords;
/// a password is better kept in ~/.pgpass or PGPASSWORD than on a command line).
/// </summary>
public sealed record StoreLocation(StoreKind Kind, string ConnectionString, string Display)
{
    public const string EnvironmentVariable = "PERFLAB_STORE";
    public const string DefaultFileName = "results.db";

    /// <summary>The SQLite file, for a SQLite store.</summary>
    public string? FilePath { get; init; }

    public static StoreLocation Parse(string? spec, string reportsRoot)
    {
        spec = string.IsNullOrWhiteSpace(spec) ? Environment.GetEnvironmentVariable(EnvironmentVariable) : spec;
        if (string.IsNullOrWhiteSpace(spec))
        {
            return Sqlite(Path.Combine(reportsRoot, DefaultFileName));
        }
        spec = spec.Trim();
        if (spec.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || spec.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
        {
            throw new StoreException("--store takes a PostgreSQL connection string in Npgsql's form, \"Host=db;Database=perflab;Username=me\", not a URL");
        }
        if (HasKey(spec, "host") || HasKey(spec, "server"))
        {
            var b = new Npgsql.NpgsqlConnectionStringBuilder();
            try
            {
                b.ConnectionString = spec;
            }
            catch (ArgumentException e)
            {
                throw new StoreException($"--store: not a valid PostgreSQL connection string: {e.Message}", e);
            }
            return new StoreLocation(StoreKind.Postgres, b.ConnectionString, $"PostgreSQL {b.Username ?? Environment.UserName}@{b.Host}{(b.Port != 5432 ? ":" + b.Port : "")}/{b.Database ?? b.Username ?? Environment.UserName}");
        }
        if (HasKey(spec, "data source") || HasKey(spec, "datasource") || HasKey(spec, "filename"))
        {
            var b = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(spec);
            return Sqlite(b.DataSource);
        }
        return Sqlite(spec);
    }

    public static StoreLocation Sqlite(string path)
    {
        string full = Path.GetFullPath(path);
        var b = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = Microsoft.Data.Sqlite.SqliteOpenMode.ReadWriteCreate,
            // One process holds the file only while it works on it (tests delete it, other writers wait).
            Pooling = false,
            // Seconds a writer waits for another one's transaction (two runs finishing at once).
            DefaultTimeout = 60,
        };
        return new StoreLocation(StoreKind.Sqlite, b.ConnectionString, full) { FilePath = full };
    }

    private static bool HasKey(string spec, string key) =>
        spec.Split(';').Any(p => p.Split('=', 2) is [var k, _] && k.Trim().Equals(key, StringComparison.OrdinalIgnoreCase));
}

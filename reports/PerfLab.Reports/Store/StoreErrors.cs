using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace PerfLab.Reports.Store;

/// <summary>What a provider's failure means for the user, in one sentence with the fix.</summary>
internal static class StoreErrors
{
    public static StoreException Describe(Exception e, StoreLocation at) => e switch
    {
        StoreException s => s,
        SqliteException { SqliteErrorCode: 26 } => new($"{at.Display} is not a SQLite database (a corrupt or foreign file): it was left untouched; give --store another file", e),
        SqliteException { SqliteErrorCode: 11 } => new($"{at.Display} is a corrupt SQLite database: it was left untouched; restore it from a backup or give --store another file", e),
        SqliteException { SqliteErrorCode: 5 or 6 } => new($"{at.Display} stayed locked by another writer for longer than the timeout: try again", e),
        SqliteException { SqliteErrorCode: 8 or 14 } => new($"{at.Display} cannot be opened for writing ({((SqliteException)e).Message})", e),
        SqliteException s => new($"{at.Display}: SQLite error {s.SqliteErrorCode}: {s.Message}", e),
        PostgresException { SqlState: "28P01" or "28000" } p => new($"{at.Display}: the server refused the credentials ({p.MessageText}); check Username/Password (or ~/.pgpass)", e),
        PostgresException { SqlState: "3D000" } p => new($"{at.Display}: {p.MessageText}; create it (createdb) or name another Database", e),
        PostgresException p => new($"{at.Display}: PostgreSQL error {p.SqlState}: {p.MessageText}", e),
        NpgsqlException n when n.InnerException is System.Net.Sockets.SocketException or IOException or TimeoutException =>
            new($"{at.Display}: cannot reach the PostgreSQL server ({n.InnerException!.Message}); is it running, and are Host/Port right?", e),
        NpgsqlException n => new($"{at.Display}: {n.Message}", e),
        DbException d => new($"{at.Display}: {d.Message}", e),
        _ => new($"{at.Display}: {e.Message}", e),
    };
}

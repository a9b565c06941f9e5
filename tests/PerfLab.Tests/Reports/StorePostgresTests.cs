using Npgsql;
using PerfLab.Reports.Store;
using Xunit;

namespace PerfLab.Tests.Reports;

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<StorePostgresCluster>
{
    public const string Name = "PostgreSQL cluster";
}

/// <summary>The results store on a real PostgreSQL server (a throw-away cluster): the same
/// contract as SQLite's, and a server that cannot be reached or refuses the credentials.</summary>
[Collection(PostgresCollection.Name)]
public sealed class StorePostgresTests(StorePostgresCluster cluster)
{
    [RequiresPostgresFact]
    public void Round_trip() => StoreContract.RoundTrip(cluster.NewDatabase());

    [RequiresPostgresFact]
    public void Concurrent_writers() => StoreContract.ConcurrentWriters(cluster.NewDatabase());

    [RequiresPostgresFact]
    public void Concurrent_first_use() => StoreContract.MigrationsRace(cluster.NewDatabase());

    [RequiresPostgresFact]
    public void Migrates_from_the_previous_version() => StoreContract.MigratesFromThePreviousVersion(cluster.NewDatabase());

    [RequiresPostgresFact]
    public void Refuses_a_newer_schema() => StoreContract.RefusesANewerSchema(cluster.NewDatabase(), Execute);

    private static void Execute(StoreLocation at, string sql)
    {
        using var c = new NpgsqlConnection(at.ConnectionString);
        c.Open();
        using var cmd = new NpgsqlCommand(sql, c);
        cmd.ExecuteNonQuery();
    }

    [RequiresPostgresFact]
    public void Wrong_credentials_and_an_unreachable_server_are_one_clear_line_each()
    {
        StoreLocation good = cluster.NewDatabase();
        var b = new NpgsqlConnectionStringBuilder(good.ConnectionString) { Password = "wrong" };
        var e = Assert.Throws<StoreException>(() => ResultsStore.Open(StoreLocation.Parse(b.ConnectionString, "/r")));
        Assert.Contains("refused the credentials", e.Message);
        Assert.Equal(PerfLab.Reports.Cli.Program.BadInput, PerfLab.Reports.Cli.Program.Main(["history", "--store", b.ConnectionString]));

        b = new NpgsqlConnectionStringBuilder(good.ConnectionString) { Host = Path.Combine(Path.GetTempPath(), "no-server-here"), Timeout = 2 };
        e = Assert.Throws<StoreException>(() => ResultsStore.Open(StoreLocation.Parse(b.ConnectionString, "/r")));
        Assert.Contains("cannot reach the PostgreSQL server", e.Message);
    }

    [RequiresPostgresFact]
    public void A_database_with_tables_of_the_same_names_is_refused_and_left_alone()
    {
        StoreLocation at = cluster.NewDatabase();
        Execute(at, "CREATE TABLE runs (name TEXT)");
        Execute(at, "INSERT INTO runs VALUES ('theirs')");
        Assert.Contains("is not a PerfLab results store", Assert.Throws<StoreException>(() => ResultsStore.Open(at)).Message);
        using var c = new NpgsqlConnection(at.ConnectionString);
        c.Open();
        using var cmd = new NpgsqlCommand("SELECT name FROM runs", c);
        Assert.Equal("theirs", cmd.ExecuteScalar());
    }
}

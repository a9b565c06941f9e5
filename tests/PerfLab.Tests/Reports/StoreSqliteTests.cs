using Microsoft.Data.Sqlite;
using PerfLab.Reports.Csv;
using PerfLab.Reports.Store;
using PerfLab.Tests.Infrastructure;
using Xunit;
using Cli = PerfLab.Reports.Cli.Program;

namespace PerfLab.Tests.Reports;

/// <summary>The results store on SQLite (the default): the shared contract, and the bad
/// files a user can point it at.</summary>
public sealed class StoreSqliteTests : IDisposable
{
    private readonly TempDir _tmp = new();

    private StoreLocation NewStore() => StoreLocation.Sqlite(_tmp.File($"r{Guid.NewGuid():N}.db"));

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void Round_trip() => StoreContract.RoundTrip(NewStore());

    [Fact]
    public void Concurrent_writers() => StoreContract.ConcurrentWriters(NewStore());

    [Fact]
    public void Concurrent_first_use() => StoreContract.MigrationsRace(NewStore());

    [Fact]
    public void Migrates_from_the_previous_version() => StoreContract.MigratesFromThePreviousVersion(NewStore());

    [Fact]
    public void Refuses_a_newer_schema() => StoreContract.RefusesANewerSchema(NewStore(), Execute);

    private static void Execute(StoreLocation at, string sql)
    {
        using var c = new SqliteConnection(at.ConnectionString);
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    [Fact]
    public void Is_created_on_first_use_with_its_folder_but_never_by_a_reader()
    {
        string path = _tmp.File("deep/er/results.db");
        Assert.Contains("no results store at", Assert.Throws<StoreException>(() => ResultsStore.Open(StoreLocation.Sqlite(path), create: false)).Message);
        Assert.False(File.Exists(path));
        using (ResultsStore s = ResultsStore.Open(StoreLocation.Sqlite(path)))
        {
            Assert.Equal(0, s.FoundVersion);
        }
        Assert.True(File.Exists(path));
    }

    [Fact]
    public void A_corrupt_or_foreign_file_is_refused_and_left_untouched()
    {
        string garbage = _tmp.File("garbage.db");
        File.WriteAllBytes(garbage, Enumerable.Range(0, 5000).Select(i => (byte)(i * 7)).ToArray());
        byte[] before = File.ReadAllBytes(garbage);
        Assert.Contains("is not a SQLite database", Assert.Throws<StoreException>(() => ResultsStore.Open(StoreLocation.Sqlite(garbage))).Message);
        Assert.Equal(before, File.ReadAllBytes(garbage));

        string foreign = _tmp.File("foreign.db");
        Execute(StoreLocation.Sqlite(foreign), "CREATE TABLE recipes (name TEXT)");
        before = File.ReadAllBytes(foreign);
        var e = Assert.Throws<StoreException>(() => ResultsStore.Open(StoreLocation.Sqlite(foreign)));
        Assert.Contains("is not a PerfLab results store (it has tables recipes", e.Message);
        Assert.Equal(before, File.ReadAllBytes(foreign));

        // A real store whose pages were damaged after the header.
        string damaged = _tmp.File("damaged.db");
        using (ResultsStore s = ResultsStore.Open(StoreLocation.Sqlite(damaged)))
        {
            s.Record(SampleData.Create(), "/x");
        }
        byte[] bytes = File.ReadAllBytes(damaged);
        for (int i = 100; i < bytes.Length; i++)
        {
            bytes[i] = 0xA5;
        }
        File.WriteAllBytes(damaged, bytes);
        Assert.IsType<StoreException>(Record.Exception(() =>
        {
            using ResultsStore s = ResultsStore.Open(StoreLocation.Sqlite(damaged));
            s.Runs();
        }));
        Assert.Equal(bytes, File.ReadAllBytes(damaged));
        Assert.Equal(Cli.BadInput, Cli.Main(["import", WriteFolder("f"), "--store", garbage]));
        Assert.Equal(Cli.BadInput, Cli.Main(["history", "--store", foreign]));
    }

    private string WriteFolder(string name)
    {
        string dir = _tmp.File(name);
        ReportCsv.Write(SampleData.Create(), dir);
        return dir;
    }

    [Fact]
    public void Import_records_folders_once_and_refuses_an_incomplete_one_storing_nothing()
    {
        string db = _tmp.File("results.db");
        string good = WriteFolder("good");
        Assert.Equal(Cli.Ok, Cli.Main(["import", good, "--store", db]));
        Assert.Equal(Cli.Ok, Cli.Main(["import", good, "--store", db])); // already stored: said, not doubled
        string broken = WriteFolder("broken");
        File.Delete(Path.Combine(broken, ReportCsv.ConfigsFile));
        string other = _tmp.File("other");
        var r = SampleData.Create();
        r.Run.Set(PerfLab.Reports.Model.RunInfo.Title, "another run");
        ReportCsv.Write(r, other);
        Assert.Equal(Cli.BadInput, Cli.Main(["import", other, broken, "--store", db]));
        Assert.Equal(Cli.BadInput, Cli.Main(["import", _tmp.File("missing"), "--store", db]));
        using ResultsStore s = ResultsStore.Open(StoreLocation.Sqlite(db), create: false);
        Assert.Single(s.Runs());
        // Compare reads stored runs by id like folders.
        Assert.Equal(Cli.Ok, Cli.Main(["compare", "1", good, "--store", db]));
        Assert.Equal(Cli.BadInput, Cli.Main(["compare", "1", "7", "--store", db]));
    }

    [Fact]
    public void Store_specifications_are_told_apart()
    {
        Assert.Equal(StoreKind.Sqlite, StoreLocation.Parse(null, "/r").Kind);
        Assert.Equal("/r/results.db", StoreLocation.Parse("", "/r").FilePath);
        Assert.Equal("/tmp/x.db", StoreLocation.Parse("Data Source=/tmp/x.db", "/r").FilePath);
        StoreLocation pg = StoreLocation.Parse("Host=db.example;Database=perflab;Username=me;Password=secret", "/r");
        Assert.Equal(StoreKind.Postgres, pg.Kind);
        Assert.DoesNotContain("secret", pg.Display);
        Assert.Throws<StoreException>(() => StoreLocation.Parse("postgres://me@db/perflab", "/r"));
    }
}

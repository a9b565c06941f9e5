namespace PerfLab.Reports.Store;

/// <summary>One step of the schema: the statements that take it from version − 1 to version.</summary>
public sealed record Migration(int Version, string What, Func<SqlDialect, string[]> Statements);

/// <summary>
/// The store's schema, as the list of steps from an empty database. A store records in
/// perflab_schema every step applied; opening it applies the missing ones in one transaction
/// (first use creates it), and refuses a store whose version is newer than the last step here.
/// Never edit a released step: add the next one.
/// </summary>
public static class Migrations
{
    public const string VersionTable = "perflab_schema";

    /// <summary>The tables the steps create: a database that has one of them but no
    /// <see cref="VersionTable"/> is someone else's.</summary>
    public static readonly IReadOnlyList<string> Tables = [VersionTable, "runs", "run_facts", "configs", "rounds", "samples", "trials", "percentiles"];

    public static readonly IReadOnlyList<Migration> All =
    [
        new(1, "runs with their facts, configurations, rounds and per-round samples", d =>
        [
            $"CREATE TABLE {VersionTable} (version INTEGER NOT NULL PRIMARY KEY, applied_utc TEXT NOT NULL, tool TEXT NOT NULL)",
            $"""
            CREATE TABLE runs (
                {d.IdColumn},
                recorded_utc TEXT NOT NULL,
                run_date TEXT NOT NULL,
                title TEXT NOT NULL,
                host TEXT NOT NULL,
                cpu_model TEXT NOT NULL,
                git_commit TEXT NOT NULL,
                git_dirty INTEGER NOT NULL,
                c2c_class TEXT NOT NULL,
                source TEXT NOT NULL)
            """,
            "CREATE INDEX runs_host ON runs (host)",
            """
            CREATE TABLE run_facts (
                run_id BIGINT NOT NULL REFERENCES runs (id),
                ord INTEGER NOT NULL,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (run_id, ord))
            """,
            """
            CREATE TABLE configs (
                run_id BIGINT NOT NULL REFERENCES runs (id),
                ord INTEGER NOT NULL,
                config_id TEXT NOT NULL,
                label TEXT NOT NULL,
                peer TEXT NOT NULL,
                backend_poll TEXT NOT NULL,
                guest_poll TEXT NOT NULL,
                frame_size INTEGER NOT NULL,
                queue_size INTEGER NOT NULL,
                burst INTEGER NOT NULL,
                ring TEXT NOT NULL,
                pairs INTEGER NOT NULL,
                mergeable INTEGER NOT NULL,
                devices INTEGER NOT NULL,
                backend_args TEXT NOT NULL,
                reference TEXT NOT NULL,
                PRIMARY KEY (run_id, config_id))
            """,
            """
            CREATE TABLE rounds (
                run_id BIGINT NOT NULL REFERENCES runs (id),
                round INTEGER NOT NULL,
                started_utc TEXT NOT NULL,
                c2c_ns DOUBLE PRECISION,
                c2c_class TEXT NOT NULL,
                flagged INTEGER NOT NULL,
                visit_order TEXT NOT NULL,
                PRIMARY KEY (run_id, round))
            """,
            """
            CREATE TABLE samples (
                run_id BIGINT NOT NULL REFERENCES runs (id),
                round INTEGER NOT NULL,
                config_id TEXT NOT NULL,
                position INTEGER NOT NULL,
                metric TEXT NOT NULL,
                value DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (run_id, round, config_id, metric))
            """,
            "CREATE INDEX samples_config ON samples (config_id, metric)",
        ]),
        new(2, "a content digest per run (importing a folder twice stores it once); trials and latency percentiles", d =>
        [
            "ALTER TABLE runs ADD COLUMN digest TEXT",
            "CREATE UNIQUE INDEX runs_digest ON runs (digest)",
            """
            CREATE TABLE trials (
                run_id BIGINT NOT NULL REFERENCES runs (id),
                ord INTEGER NOT NULL,
                round INTEGER NOT NULL,
                config_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                point TEXT NOT NULL,
                intended_mpps DOUBLE PRECISION,
                duration_s DOUBLE PRECISION,
                offered BIGINT NOT NULL,
                received BIGINT NOT NULL,
                loss_ratio DOUBLE PRECISION,
                forwarding_mpps DOUBLE PRECISION,
                PRIMARY KEY (run_id, ord))
            """,
            """
            CREATE TABLE percentiles (
                run_id BIGINT NOT NULL REFERENCES runs (id),
                ord INTEGER NOT NULL,
                config_id TEXT NOT NULL,
                load INTEGER NOT NULL,
                percentile DOUBLE PRECISION NOT NULL,
                latency_ns DOUBLE PRECISION NOT NULL,
                count_at_or_below BIGINT NOT NULL,
                PRIMARY KEY (run_id, ord))
            """,
        ]),
    ];

    public static int Latest => All[^1].Version;
}

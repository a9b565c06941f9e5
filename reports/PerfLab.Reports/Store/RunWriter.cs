using System.Data.Common;
using System.Globalization;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Store;

/// <summary>Writes one run, all of it or nothing, in one transaction.</summary>
internal static class RunWriter
{
    public static (long Id, bool Existed) Write(DbConnection db, SqlDialect dialect, Report r, string source, bool hasDigest)
    {
        string? digest = hasDigest ? RunDigest.Of(r) : null;
        using DbTransaction tx = dialect.BeginWrite(db);
        if (digest != null && Sql.Scalar(db, tx, "SELECT id FROM runs WHERE digest = @d", ("@d", digest)) is { } existing)
        {
            return (Convert.ToInt64(existing, CultureInfo.InvariantCulture), true);
        }
        var (commit, dirty) = SplitCommit(r.Run[RunInfo.GitCommit]);
        string cols = "recorded_utc, run_date, title, host, cpu_model, git_commit, git_dirty, c2c_class, source" + (digest != null ? ", digest" : "");
        string vals = "@recorded, @date, @title, @host, @cpu, @commit, @dirty, @c2c, @source" + (digest != null ? ", @digest" : "");
        long id = Convert.ToInt64(Sql.Scalar(db, tx, $"INSERT INTO runs ({cols}) VALUES ({vals}) RETURNING id",
            ("@recorded", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture)),
            ("@date", r.Run[RunInfo.Date] ?? ""),
            ("@title", r.Run[RunInfo.Title] ?? ""),
            ("@host", r.Run[RunInfo.Host] ?? ""),
            ("@cpu", r.Run[RunInfo.CpuModel] ?? ""),
            ("@commit", commit),
            ("@dirty", dirty),
            ("@c2c", Summaries.C2cClassOf(r)),
            ("@source", source),
            ("@digest", digest)), CultureInfo.InvariantCulture);

        Rows(db, tx, "INSERT INTO run_facts (run_id, ord, key, value) VALUES (@run, @ord, @key, @value)", id,
            r.Run.Facts.Select((f, i) => new object?[] { i, f.Key, f.Value }), "@ord", "@key", "@value");
        Rows(db, tx, "INSERT INTO configs (run_id, ord, config_id, label, peer, backend_poll, guest_poll, frame_size, queue_size, burst, ring, pairs, mergeable, devices, backend_args, reference) "
            + "VALUES (@run, @ord, @cid, @label, @peer, @bp, @gp, @fs, @qs, @burst, @ring, @pairs, @mrg, @dev, @args, @ref)", id,
            r.Configs.Select((c, i) => new object?[] { i, c.Id, c.Label, c.Peer, c.BackendPoll, c.GuestPoll, c.FrameSize, c.QueueSize, c.Burst, c.Ring, c.Pairs, c.Mergeable, c.Devices, c.BackendArgs, c.Reference }),
            "@ord", "@cid", "@label", "@peer", "@bp", "@gp", "@fs", "@qs", "@burst", "@ring", "@pairs", "@mrg", "@dev", "@args", "@ref");
        Rows(db, tx, "INSERT INTO rounds (run_id, round, started_utc, c2c_ns, c2c_class, flagged, visit_order) VALUES (@run, @round, @started, @c2c, @class, @flagged, @order)", id,
            r.Rounds.Select(x => new object?[] { x.Round, x.StartedUtc.ToString("O", CultureInfo.InvariantCulture), x.C2cNs, x.C2cClass, x.Flagged, x.Order }),
            "@round", "@started", "@c2c", "@class", "@flagged", "@order");
        Rows(db, tx, "INSERT INTO samples (run_id, round, config_id, position, metric, value) VALUES (@run, @round, @cid, @pos, @metric, @value)", id,
            r.Samples.SelectMany(s => s.Values.Where(kv => double.IsFinite(kv.Value)).Select(kv => new object?[] { s.Round, s.ConfigId, s.Position, kv.Key, kv.Value })),
            "@round", "@cid", "@pos", "@metric", "@value");
        if (hasDigest)
        {
            Rows(db, tx, "INSERT INTO trials (run_id, ord, round, config_id, kind, point, intended_mpps, duration_s, offered, received, loss_ratio, forwarding_mpps) "
                + "VALUES (@run, @ord, @round, @cid, @kind, @point, @intended, @duration, @offered, @received, @loss, @fwd)", id,
                r.Trials.Select((t, i) => new object?[] { i, t.Round, t.ConfigId, t.Kind, t.Point, t.IntendedMpps, t.DurationS, t.Offered, t.Received, t.LossRatio, t.ForwardingMpps }),
                "@ord", "@round", "@cid", "@kind", "@point", "@intended", "@duration", "@offered", "@received", "@loss", "@fwd");
            Rows(db, tx, "INSERT INTO percentiles (run_id, ord, config_id, load, percentile, latency_ns, count_at_or_below) VALUES (@run, @ord, @cid, @load, @pct, @ns, @count)", id,
                r.Percentiles.Select((p, i) => new object?[] { i, p.ConfigId, p.Load, p.Percentile, p.LatencyNs, p.CountAtOrBelow }),
                "@ord", "@cid", "@load", "@pct", "@ns", "@count");
        }
        tx.Commit();
        return (id, false);
    }

    /// <summary>"abc1234 (with local changes)" → ("abc1234", true).</summary>
    public static (string Commit, bool Dirty) SplitCommit(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return ("", false);
        }
        string commit = text.Trim().Split(' ', 2)[0];
        return (commit, text.Contains("local changes", StringComparison.OrdinalIgnoreCase) || text.Contains("dirty", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>One prepared insert, executed per row (run id first, then the named columns).</summary>
    private static void Rows(DbConnection db, DbTransaction tx, string sql, long runId, IEnumerable<object?[]> rows, params string[] names)
    {
        using DbCommand cmd = Sql.Command(db, tx, sql, ("@run", runId));
        foreach (string n in names)
        {
            Sql.Add(cmd, n);
        }
        foreach (object?[] row in rows)
        {
            for (int i = 0; i < names.Length; i++)
            {
                Sql.Set(cmd, names[i], row[i]);
            }
            cmd.ExecuteNonQuery();
        }
    }
}

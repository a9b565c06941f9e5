using System.Data.Common;
using System.Globalization;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Store;

/// <summary>Reads stored runs back: the list, and one run as a <see cref="Report"/>.</summary>
internal static class RunReader
{
    private const string RunColumns = "id, recorded_utc, run_date, title, host, cpu_model, git_commit, git_dirty, c2c_class, source";

    public static List<StoredRun> List(DbConnection db, string? host, string? configId)
    {
        var where = new List<string>();
        var ps = new List<(string, object?)>();
        if (host != null)
        {
            where.Add("host = @host");
            ps.Add(("@host", host));
        }
        if (configId != null)
        {
            where.Add("EXISTS (SELECT 1 FROM configs c WHERE c.run_id = runs.id AND c.config_id = @cid)");
            ps.Add(("@cid", configId));
        }
        string sql = $"SELECT {RunColumns} FROM runs{(where.Count > 0 ? " WHERE " + string.Join(" AND ", where) : "")} ORDER BY id";
        using DbCommand cmd = Sql.Command(db, null, sql, ps.ToArray());
        using DbDataReader r = cmd.ExecuteReader();
        var list = new List<StoredRun>();
        while (r.Read())
        {
            list.Add(new StoredRun(Sql.Long(r, 0), Sql.Text(r, 1), Sql.Text(r, 2), Sql.Text(r, 3), Sql.Text(r, 4), Sql.Text(r, 5), Sql.Text(r, 6), Sql.Int(r, 7) != 0, Sql.Text(r, 8), Sql.Text(r, 9)));
        }
        return list;
    }

    public static Report? Read(DbConnection db, long id, bool hasDetails)
    {
        if (Sql.Scalar(db, null, "SELECT id FROM runs WHERE id = @id", ("@id", id)) is null)
        {
            return null;
        }
        var run = new RunInfo();
        Each(db, "SELECT key, value FROM run_facts WHERE run_id = @id ORDER BY ord", id, r => run.Facts.Add(new RunFact { Key = Sql.Text(r, 0), Value = Sql.Text(r, 1) }));
        var report = new Report { Run = run };
        Each(db, "SELECT config_id, label, peer, backend_poll, guest_poll, frame_size, queue_size, burst, ring, pairs, mergeable, devices, backend_args, reference FROM configs WHERE run_id = @id ORDER BY ord", id,
            r => report.Configs.Add(new ConfigInfo
            {
                Id = Sql.Text(r, 0), Label = Sql.Text(r, 1), Peer = Sql.Text(r, 2), BackendPoll = Sql.Text(r, 3), GuestPoll = Sql.Text(r, 4),
                FrameSize = Sql.Int(r, 5), QueueSize = Sql.Int(r, 6), Burst = Sql.Int(r, 7), Ring = Sql.Text(r, 8), Pairs = Sql.Int(r, 9),
                Mergeable = Sql.Int(r, 10) != 0, Devices = Sql.Int(r, 11), BackendArgs = Sql.Text(r, 12), Reference = Sql.Text(r, 13),
            }));
        Each(db, "SELECT round, started_utc, c2c_ns, c2c_class, flagged, visit_order FROM rounds WHERE run_id = @id ORDER BY round", id,
            r => report.Rounds.Add(new RoundInfo
            {
                Round = Sql.Int(r, 0),
                StartedUtc = DateTime.Parse(Sql.Text(r, 1), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind),
                C2cNs = Sql.Double(r, 2), C2cClass = Sql.Text(r, 3), Flagged = Sql.Int(r, 4) != 0, Order = Sql.Text(r, 5),
            }));
        var samples = new Dictionary<(int, string), RoundSample>();
        Each(db, "SELECT round, config_id, position, metric, value FROM samples WHERE run_id = @id ORDER BY round, position, config_id, metric", id, r =>
        {
            var key = (Sql.Int(r, 0), Sql.Text(r, 1));
            if (!samples.TryGetValue(key, out RoundSample? s))
            {
                s = new RoundSample { Round = key.Item1, ConfigId = key.Item2, Position = Sql.Int(r, 2) };
                samples[key] = s;
                report.Samples.Add(s);
            }
            s.Values[Sql.Text(r, 3)] = Sql.Double(r, 4);
        });
        if (hasDetails)
        {
            Each(db, "SELECT round, config_id, kind, point, intended_mpps, duration_s, offered, received, loss_ratio, forwarding_mpps FROM trials WHERE run_id = @id ORDER BY ord", id,
                r => report.Trials.Add(new TrialRecord
                {
                    Round = Sql.Int(r, 0), ConfigId = Sql.Text(r, 1), Kind = Sql.Text(r, 2), Point = Sql.Text(r, 3), IntendedMpps = Sql.Double(r, 4),
                    DurationS = Sql.Double(r, 5), Offered = Sql.Long(r, 6), Received = Sql.Long(r, 7), LossRatio = Sql.Double(r, 8), ForwardingMpps = Sql.Double(r, 9),
                }));
            Each(db, "SELECT config_id, load, percentile, latency_ns, count_at_or_below FROM percentiles WHERE run_id = @id ORDER BY ord", id,
                r => report.Percentiles.Add(new PercentilePoint
                {
                    ConfigId = Sql.Text(r, 0), Load = Sql.Int(r, 1), Percentile = Sql.Double(r, 2), LatencyNs = Sql.Double(r, 3), CountAtOrBelow = Sql.Long(r, 4),
                }));
        }
        return report;
    }

    private static void Each(DbConnection db, string sql, long id, Action<DbDataReader> row)
    {
        using DbCommand cmd = Sql.Command(db, null, sql, ("@id", id));
        using DbDataReader r = cmd.ExecuteReader();
        while (r.Read())
        {
            row(r);
        }
    }
}

using System.Data.Common;

namespace PerfLab.Reports.Store;

/// <summary>Plain ADO.NET commands with named parameters, the same for both providers; a NaN
/// is stored as NULL (SQLite has no NaN) and read back as NaN.</summary>
internal static class Sql
{
    public static DbCommand Command(DbConnection c, DbTransaction? tx, string sql, params (string Name, object? Value)[] ps)
    {
        DbCommand cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (name, value) in ps)
        {
            Add(cmd, name, value);
        }
        return cmd;
    }

    public static DbParameter Add(DbCommand cmd, string name, object? value = null)
    {
        DbParameter p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = Db(value);
        cmd.Parameters.Add(p);
        return p;
    }

    public static void Set(DbCommand cmd, string name, object? value) => cmd.Parameters[name].Value = Db(value);

    public static int Execute(DbConnection c, DbTransaction? tx, string sql, params (string, object?)[] ps)
    {
        using DbCommand cmd = Command(c, tx, sql, ps);
        return cmd.ExecuteNonQuery();
    }

    public static object? Scalar(DbConnection c, DbTransaction? tx, string sql, params (string, object?)[] ps)
    {
        using DbCommand cmd = Command(c, tx, sql, ps);
        object? v = cmd.ExecuteScalar();
        return v is DBNull ? null : v;
    }

    public static List<string> Strings(DbConnection c, DbTransaction? tx, string sql)
    {
        using DbCommand cmd = Command(c, tx, sql);
        using DbDataReader r = cmd.ExecuteReader();
        var list = new List<string>();
        while (r.Read())
        {
            list.Add(r.GetString(0));
        }
        return list;
    }

    private static object Db(object? v) => v switch
    {
        null => DBNull.Value,
        double d when !double.IsFinite(d) => DBNull.Value,
        bool b => b ? 1 : 0,
        _ => v,
    };

    public static double Double(DbDataReader r, int i) => r.IsDBNull(i) ? double.NaN : Convert.ToDouble(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);

    public static long Long(DbDataReader r, int i) => Convert.ToInt64(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);

    public static int Int(DbDataReader r, int i) => Convert.ToInt32(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);

    public static string Text(DbDataReader r, int i) => r.IsDBNull(i) ? "" : r.GetString(i);
}

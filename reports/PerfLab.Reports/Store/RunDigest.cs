using System.Security.Cryptography;
using System.Text;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Store;

/// <summary>A digest of what a run measured (its facts, configurations, rounds and samples), so
/// that recording the same run twice (the bench, then an import of its folder) stores it once.</summary>
public static class RunDigest
{
    public static string Of(Report r)
    {
        var sb = new StringBuilder();
        foreach (RunFact f in r.Run.Facts)
        {
            sb.Append("F\u001f").Append(f.Key).Append('\u001f').Append(f.Value).Append('\n');
        }
        foreach (ConfigInfo c in r.Configs)
        {
            sb.Append("C\u001f").Append(c.Id).Append('\u001f').Append(c.Label).Append('\u001f').Append(c.Reference).Append('\n');
        }
        foreach (RoundInfo x in r.Rounds)
        {
            sb.Append("R\u001f").Append(x.Round).Append('\u001f').Append(Num(x.C2cNs)).Append('\u001f').Append(x.Order).Append('\n');
        }
        foreach (RoundSample s in r.Samples)
        {
            foreach (var (k, v) in s.Values.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                sb.Append("S\u001f").Append(s.Round).Append('\u001f').Append(s.ConfigId).Append('\u001f').Append(k).Append('\u001f').Append(Num(v)).Append('\n');
            }
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }

    private static string Num(double v) => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}

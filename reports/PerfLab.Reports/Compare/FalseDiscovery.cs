namespace PerfLab.Reports.Compare;

/// <summary>
/// Controls the false discoveries among many rows judged at once (Benjamini-Hochberg at
/// <see cref="RatioTest.Alpha"/>). A comparison judges every configuration, metric and load point
/// (about 80 rows for the default profile), each at 5 %: judged alone, two runs of the same code
/// would show a "slower" row or two by chance. A row keeps its slower or faster verdict only if
/// its one-sided p-value survives the step-up rule over all judged rows; the others become noise
/// and say why.
/// </summary>
public static class FalseDiscovery
{
    public static IReadOnlyList<RatioResult> Control(IReadOnlyList<RatioResult> rows)
    {
        var judged = Enumerable.Range(0, rows.Count).Where(i => rows[i].Verdict != Verdict.NotJudged).ToList();
        int m = judged.Count;
        var byP = judged.Where(i => rows[i].Verdict is Verdict.Slower or Verdict.Faster)
            .OrderBy(i => rows[i].PDirectional).ToList();
        // Step-up: the largest rank k whose p is at most k/m of alpha; every row up to it stands.
        int keep = 0;
        for (int k = 1; k <= byP.Count; k++)
        {
            if (rows[byP[k - 1]].PDirectional <= k * RatioTest.Alpha / m)
            {
                keep = k;
            }
        }
        var result = rows.ToArray();
        foreach (int i in byP.Skip(keep))
        {
            RatioResult r = rows[i];
            string dir = r.Verdict == Verdict.Slower ? "worse" : "better";
            result[i] = r with
            {
                Verdict = Verdict.Noise,
                Why = $"{dir} alone (p {r.PDirectional:0.####}), not among {m} rows judged together (Benjamini-Hochberg, {RatioTest.Alpha:0%}); --metric judges fewer",
            };
        }
        return result;
    }
}

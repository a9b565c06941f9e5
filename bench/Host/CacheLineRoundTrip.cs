using System.Diagnostics;
using System.Runtime.InteropServices;
using PerfLab.Vhost.Interop;

namespace PerfLab.Bench.Host;

/// <summary>
/// The cross-core cache-line round trip: two threads pinned to the load generator's and the
/// back-end's CPUs bounce one 64-byte line (one writes odd values, the other answers with the
/// next even one). Every frame's descriptors, indices and data cross between those CPUs, so
/// this bounds everything the bench measures; on a shared VM it moves with the host's
/// placement of the vCPUs. Returns the median ns per round trip over several rounds.
/// </summary>
public static class CacheLineRoundTrip
{
    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private sealed class Line
    {
        [FieldOffset(64)] public long Value; // alone on its cache line
    }

    public static double MeasureNs(int cpuA = 0, int cpuB = 1, int rounds = 7, double secondsPerRound = 0.1)
    {
        if (Environment.ProcessorCount < 2)
        {
            return double.NaN;
        }
        var line = new Line();
        const long Stop = long.MaxValue;
        var responder = new Thread(() =>
        {
            Affinity.PinCurrentThread(cpuB);
            long expect = 1;
            while (true)
            {
                long v;
                while ((v = Volatile.Read(ref line.Value)) != expect)
                {
                    if (v == Stop)
                    {
                        return;
                    }
                }
                Volatile.Write(ref line.Value, expect + 1);
                expect += 2;
            }
        }) { IsBackground = true, Name = "cache-line responder" };
        double[] results = new double[rounds];
        var sender = new Thread(() =>
        {
            Affinity.PinCurrentThread(cpuA);
            long next = 1;
            Round(line, ref next, secondsPerRound / 3); // warm-up
            for (int r = 0; r < rounds; r++)
            {
                results[r] = Round(line, ref next, secondsPerRound);
            }
            Volatile.Write(ref line.Value, Stop);
        }) { IsBackground = true, Name = "cache-line sender" };
        responder.Start();
        sender.Start();
        if (!sender.Join(TimeSpan.FromSeconds(rounds * secondsPerRound + 30)) || !responder.Join(TimeSpan.FromSeconds(5)))
        {
            Volatile.Write(ref line.Value, Stop);
            return double.NaN;
        }
        Array.Sort(results);
        return results[rounds / 2];
    }

    private static double Round(Line line, ref long next, double seconds)
    {
        long n = 0;
        long limit = (long)(seconds * Stopwatch.Frequency);
        long t0 = Stopwatch.GetTimestamp(), t;
        do
        {
            for (int i = 0; i < 4096; i++)
            {
                long odd = next;
                Volatile.Write(ref line.Value, odd);
                while (Volatile.Read(ref line.Value) != odd + 1)
                {
                }
                next = odd + 2;
            }
            n += 4096;
            t = Stopwatch.GetTimestamp();
        }
        while (t - t0 < limit);
        return (t - t0) * 1e9 / Stopwatch.Frequency / n;
    }
}

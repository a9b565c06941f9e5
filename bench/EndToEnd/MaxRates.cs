using System.Globalization;
using System.Text.Json;
using PerfLab.LoadGen;
using PerfLab.Vhost.Polling;

namespace PerfLab.Bench.EndToEnd;

/// <summary>
/// The offered-load sweep is a percentage of a maximum measured in the same run: before
/// BenchmarkDotNet starts, the host probes each (frame size, queue size, burst) the selected
/// cases need with a short unthrottled run of the baseline strategy, and writes the rates to
/// max-rates.json in the run's raw folder; each case reads its rate from there.
/// </summary>
public static class MaxRates
{
    public const string FileName = "max-rates.json";

    public static string KeyOf(DataPath d) =>
        string.Create(CultureInfo.InvariantCulture, $"{d.FrameSize}/{d.QueueSize}/{d.Burst}/{d.Ring.ToString().ToLowerInvariant()}/{d.Pairs}/{(d.Mergeable ? "mrg" : "-")}");

    public static Dictionary<string, double> Load(string runDir)
    {
        string path = Path.Combine(runDir, FileName);
        return File.Exists(path)
            ? JsonSerializer.Deserialize<Dictionary<string, double>>(File.ReadAllText(path)) ?? []
            : [];
    }

    public static void Save(string runDir, Dictionary<string, double> rates) =>
        File.WriteAllText(Path.Combine(runDir, FileName), JsonSerializer.Serialize(rates, new JsonSerializerOptions { WriteIndented = true }));

    /// <summary>The measured maximum in frames per second, or throws with what to do.</summary>
    public static double Get(string? runDir, DataPath d)
    {
        string key = KeyOf(d);
        if (runDir != null && Load(runDir).TryGetValue(key, out double pps) && pps > 0)
        {
            return pps;
        }
        throw new InvalidOperationException(
            $"no measured maximum for {key} (frame/queue/burst/ring/pairs/mergeable): throttled loads need PerfLab.Bench's Main, which measures it before BenchmarkDotNet runs");
    }

    /// <summary>
    /// Runs the back-end (as a process) and the load generator unthrottled for
    /// <paramref name="seconds"/> after a short warm-up, on a thread of its own pinned to the
    /// load generator's CPU (the caller's affinity is untouched), and returns frames/s.
    /// </summary>
    public static double Probe(PollMode poll, DataPath d, double seconds)
    {
        string dir = Directory.CreateTempSubdirectory("plp-").FullName;
        try
        {
            string sock = Path.Combine(dir, "vhost.sock");
            using IBackendUnderTest backend = BackendLauncher.Start(Peer.PerfLab, poll, sock, dir, d.Pairs);
            LoadGenResult? result = null;
            Exception? error = null;
            var t = new Thread(() =>
            {
                try
                {
                    using var gen = new LoadGenerator(new LoadGenOptions
                    {
                        SocketPath = sock,
                        FrameSize = d.FrameSize,
                        QueueSize = d.QueueSize,
                        Burst = d.Burst,
                        Packed = d.Ring == RingLayout.Packed,
                        Queues = d.Pairs,
                        Mergeable = d.Mergeable,
                        Poll = new PollOptions { Mode = poll },
                        WarmupS = 0.5,
                        DurationS = seconds,
                        ConnectTimeoutS = 30,
                        Cpu = BackendLauncher.LoadGenCpu,
                    });
                    gen.Setup();
                    result = gen.Run();
                    gen.Teardown();
                }
                catch (Exception e) when (e is IOException or InvalidOperationException or TimeoutException)
                {
                    error = e;
                }
            }) { IsBackground = true, Name = "max-rate probe" };
            t.Start();
            if (!t.Join(TimeSpan.FromSeconds(seconds + 60)))
            {
                throw new TimeoutException($"the max-rate probe for {KeyOf(d)} did not finish");
            }
            if (error != null || result is null || result.Received == 0)
            {
                throw new InvalidOperationException($"the max-rate probe for {KeyOf(d)} failed: {error?.Message ?? "no frames came back"}", error);
            }
            return result.Mpps * 1e6;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

using System.Text.Json;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Journal;

/// <summary>
/// The figures a script records from one perflab-loadgen --json result, named as
/// <see cref="Metrics"/> names them (no load point: a script's visit is one load). Read by
/// field name, so a field the load generator drops or adds later does no harm. Both of its
/// shapes: a window's result, and a trial's (--trials, or several devices: it carries
/// <c>intended_pps</c>; its totals are read, not the per-device entries).
/// </summary>
public static class LoadGenJson
{
    public static Dictionary<string, double> Metrics(string json)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        JsonElement r = doc.RootElement;
        if (r.TryGetProperty("intended_pps", out _))
        {
            return TrialMetrics(r);
        }
        var m = new Dictionary<string, double>(StringComparer.Ordinal);
        double? Get(string name) => r.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
        void Put(string metric, double? v)
        {
            if (v is { } x && double.IsFinite(x))
            {
                m[metric] = x;
            }
        }
        double? received = Get("received");
        double? backendPackets = Get("backend_packets");
        Put(Model.Metrics.Mpps, Get("mpps"));
        Put("gbps", Get("gbps"));
        PutLatency(r, m);
        if (Get("backend_cpu_pct") is { } be && be >= 0)
        {
            Put(Model.Metrics.BackendCpuPct, be);
            Put(Model.Metrics.BackendNsPerFrame, Get("backend_cpu_ns_per_packet"));
        }
        if (Get("backend_busy_ns_per_packet") is { } busy && busy >= 0)
        {
            Put("be_busy_ns_frame", busy);
        }
        Put(Model.Metrics.LoadgenCpuPct, Get("loadgen_cpu_pct"));
        Put(Model.Metrics.LoadgenNsPerFrame, Get("loadgen_cpu_ns_per_packet"));
        Put(Model.Metrics.KicksPerFrame, Get("kicks_per_packet"));
        Put(Model.Metrics.CallsPerFrame, Get("calls_per_packet"));
        if (backendPackets is > 0)
        {
            if (Get("backend_calls") is { } calls && calls >= 0)
            {
                Put("be_calls_frame", calls / backendPackets);
            }
            if (Get("backend_wakeups") is { } wakeups && wakeups >= 0)
            {
                Put("be_wakeups_frame", wakeups / backendPackets);
            }
        }
        if (Get("offered_pps") is > 0 and { } offered && Get("mpps") is { } mpps)
        {
            Put("delivered", mpps * 1e6 / offered);
        }
        // The strategies' decisions (docs/polling.md): sleeps, naps and kick-batch timeouts per frame, the budget and the notify-poll window.
        Decisions(r, "backend_poll", "be", backendPackets);
        Decisions(r, "guest_poll", "guest", received);
        if (Get("lost") is { } lost && received is { } rx)
        {
            Put("lost", lost);
            Put(Model.Metrics.Loss, rx + lost > 0 ? lost / (rx + lost) : 0);
        }
        return m;

        void Decisions(JsonElement root, string field, string side, double? frames)
        {
            if (!root.TryGetProperty(field, out JsonElement d) || d.ValueKind != JsonValueKind.Object || frames is not > 0)
            {
                return;
            }
            if (d.TryGetProperty("sleeps", out JsonElement sleeps) && sleeps.ValueKind == JsonValueKind.Number)
            {
                Put(side + "_sleeps_frame", sleeps.GetDouble() / frames.Value);
            }
            if (d.TryGetProperty("budget_ns", out JsonElement budget) && budget.ValueKind == JsonValueKind.Number)
            {
                Put(side + "_budget_us", budget.GetDouble() / 1000);
            }
            if (d.TryGetProperty("notify_window_ns", out JsonElement window) && window.ValueKind == JsonValueKind.Number && window.GetDouble() > 0)
            {
                Put(side + "_notify_window_us", window.GetDouble() / 1000);
            }
            if (d.TryGetProperty("naps", out JsonElement naps) && naps.ValueKind == JsonValueKind.Number && naps.GetDouble() > 0)
            {
                Put(side + "_naps_frame", naps.GetDouble() / frames.Value);
            }
            // A kick batch: its timeouts per frame (sleeps the batch did not fill).
            if (d.TryGetProperty("kick_timeouts", out JsonElement timeouts) && timeouts.ValueKind == JsonValueKind.Number
                && d.TryGetProperty("coalesced_sleeps", out JsonElement coalesced) && coalesced.ValueKind == JsonValueKind.Number && coalesced.GetDouble() > 0)
            {
                Put(side + "_kick_timeouts_frame", timeouts.GetDouble() / frames.Value);
            }
            if (d.TryGetProperty("kick_batch", out JsonElement batch) && batch.ValueKind == JsonValueKind.Number && batch.GetDouble() > 0)
            {
                Put(side + "_kick_batch", batch.GetDouble());
            }
        }
    }

    /// <summary>
    /// A trial's totals: delivered (received over the window) and offered rates, the loss
    /// ratio and where it happened (TX ring full, generator behind its schedule, no RX buffer
    /// at the back-end), latency, and CPU per frame delivered. The back-end's CPU share is
    /// over its own clock between the trial's two snapshots.
    /// </summary>
    private static Dictionary<string, double> TrialMetrics(JsonElement r)
    {
        var m = new Dictionary<string, double>(StringComparer.Ordinal);
        double Get(string name) => r.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;
        void Put(string metric, double v)
        {
            if (double.IsFinite(v))
            {
                m[metric] = v;
            }
        }
        double window = Get("window_s"), interval = Get("interval_s");
        double offered = Get("offered"), received = Get("received"), sent = Get("sent");
        double PerFrame(double v, double frames) => v >= 0 && frames > 0 ? v / frames : double.NaN;
        if (window > 0)
        {
            Put(Model.Metrics.Mpps, received / window / 1e6);
            Put(Model.Metrics.OfferedMpps, offered / window / 1e6);
        }
        Put(Model.Metrics.Loss, Get("loss_ratio"));
        Put("lost", Get("lost"));
        Put("tx_dropped_ratio", PerFrame(Get("tx_dropped"), offered));
        Put("behind_ratio", PerFrame(Get("generator_shortfall"), offered));
        Put("be_dropped_ratio", PerFrame(Get("backend_dropped"), offered));
        Put("errors", Get("errors"));
        PutLatency(r, m);
        double beCpu = Get("backend_cpu_ns"), beClock = Get("backend_interval_ns");
        if (beCpu >= 0)
        {
            double clock = beClock > 0 ? beClock : interval * 1e9;
            Put(Model.Metrics.BackendCpuPct, clock > 0 ? 100 * beCpu / clock : double.NaN);
            Put(Model.Metrics.BackendNsPerFrame, PerFrame(beCpu, received));
        }
        double lgCpu = Get("loadgen_cpu_ns");
        if (lgCpu >= 0 && interval > 0)
        {
            Put(Model.Metrics.LoadgenCpuPct, 100 * lgCpu / (interval * 1e9));
            Put(Model.Metrics.LoadgenNsPerFrame, PerFrame(lgCpu, received));
        }
        Put(Model.Metrics.KicksPerFrame, PerFrame(Get("kicks"), sent));
        Put(Model.Metrics.CallsPerFrame, PerFrame(Get("calls_received"), received));
        Put("be_calls_frame", PerFrame(Get("backend_calls"), received));
        Put("be_wakeups_frame", PerFrame(Get("backend_wakeups"), received));
        if (r.TryGetProperty("devices", out JsonElement devices) && devices.ValueKind == JsonValueKind.Array)
        {
            Put("devices", Math.Max(1, devices.GetArrayLength()));
        }
        return m;
    }

    /// <summary>latency_ns's percentiles in µs (a zero, nothing measured, is left out).</summary>
    private static void PutLatency(JsonElement r, Dictionary<string, double> m)
    {
        if (!r.TryGetProperty("latency_ns", out JsonElement lat) || lat.ValueKind != JsonValueKind.Object)
        {
            return;
        }
        foreach (var (field, metric) in new[] { ("p50", Model.Metrics.P50Us), ("p90", Model.Metrics.P90Us), ("p99", Model.Metrics.P99Us), ("p999", Model.Metrics.P999Us), ("max", Model.Metrics.MaxUs) })
        {
            if (lat.TryGetProperty(field, out JsonElement v) && v.ValueKind == JsonValueKind.Number && v.GetDouble() > 0)
            {
                m[metric] = v.GetDouble() / 1000;
            }
        }
    }
}

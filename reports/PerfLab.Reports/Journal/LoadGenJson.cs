using System.Text.Json;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Journal;

/// <summary>
/// The figures a script records from one perflab-loadgen --json result, named as
/// <see cref="Metrics"/> names them (no load point: a script's visit is one load). Read by
/// field name, so a field the load generator drops or adds later does no harm.
/// </summary>
public static class LoadGenJson
{
    public static Dictionary<string, double> Metrics(string json)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        JsonElement r = doc.RootElement;
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
        if (r.TryGetProperty("latency_ns", out JsonElement lat) && lat.ValueKind == JsonValueKind.Object)
        {
            double? L(string name) => lat.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Number && v.GetDouble() > 0 ? v.GetDouble() / 1000 : null;
            Put(Model.Metrics.P50Us, L("p50"));
            Put(Model.Metrics.P90Us, L("p90"));
            Put(Model.Metrics.P99Us, L("p99"));
            Put(Model.Metrics.P999Us, L("p999"));
            Put(Model.Metrics.MaxUs, L("max"));
        }
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
        // The strategies' decisions (docs/polling.md): sleeps per frame and the budget.
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
        }
    }
}

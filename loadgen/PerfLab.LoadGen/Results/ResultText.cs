using System.Globalization;

namespace PerfLab.LoadGen.Results;

/// <summary>The human summary of a run (the CLI's output without --json).</summary>
public static class ResultText
{
    public static string Human(LoadGenResult r)
    {
        var ci = CultureInfo.InvariantCulture;
        var l = r.LatencyNs;
        string us(double ns) => (ns / 1000).ToString("F2", ci);
        var s = new System.Text.StringBuilder();
        s.AppendLine(string.Create(ci, $"perflab-loadgen: {r.Backend} poll={r.Poll} size={r.FrameSize}B queue={r.QueueSize} burst={r.Burst} queues={r.Queues} offered={(r.OfferedPps > 0 ? $"{r.OfferedPps / 1e6:F3} Mpps" : "max")}"));
        s.AppendLine(string.Create(ci, $"  features   {r.Features}; protocol {r.ProtocolFeatures}"));
        s.AppendLine(string.Create(ci, $"  window     {r.DurationS:F2} s   sent={r.Sent} received={r.Received} lost={r.Lost} seq_errors={r.SeqErrors} bad_length={r.BadLength} corrupt={r.Corrupt}{(r.VerifyErrors > 0 ? $" verify_errors={r.VerifyErrors}" : "")}{(r.Unswapped > 0 ? $" unswapped={r.Unswapped}" : "")}"));
        s.AppendLine(string.Create(ci, $"  throughput {r.Mpps:F3} Mpps  {r.Gbps:F3} Gb/s"));
        s.AppendLine(string.Create(ci, $"  latency us p50={us(l.P50)} p90={us(l.P90)} p99={us(l.P99)} p99.9={us(l.P999)} max={us(l.Max)} (n={l.Count}, round trip)"));
        s.AppendLine(string.Create(ci, $"  connect    first frame after {r.ConnectToFirstFrameMs:F1} ms{(r.ReconnectMs.Count > 0 ? $"; reconnects (ms): {string.Join(' ', r.ReconnectMs.Select(x => x.ToString("F1", ci)))}" : "")}{(r.Queues > 1 ? $"; per pair: {string.Join(' ', r.ReceivedPerPair)}" : "")}"));
        if (r.MemoryRemaps > 0 || r.RarpReceived > 0 || r.DirtyPagesLogged >= 0)
        {
            s.AppendLine(string.Create(ci, $"  protocol   memory_remaps={r.MemoryRemaps} rarp_received={r.RarpReceived} dirty_pages logged={r.DirtyPagesLogged} expected={r.DirtyPagesExpected} mismatches={r.DirtyLogMismatches}"));
        }
        s.AppendLine(string.Create(ci, $"  notify     kicks/pkt={r.KicksPerPacket:F4} calls/pkt={r.CallsPerPacket:F4} sleeps={r.Sleeps} tx_full={r.TxFullStalls}"));
        s.AppendLine(string.Create(ci, $"  loadgen    cpu={r.LoadgenCpuPct:F0}% ({r.LoadgenCpuNsPerPacket:F1} ns/pkt on the traffic thread) gen0={r.Gen0} gen1={r.Gen1} gen2={r.Gen2} allocated={r.AllocatedBytes}B"));
        if (r.BackendCpuNs >= 0)
        {
            s.AppendLine(string.Create(ci, $"  backend    cpu={r.BackendCpuPct:F0}% ({r.BackendCpuNsPerPacket:F1} ns/pkt){(r.BackendBusyNsPerPacket >= 0 ? $" busy={r.BackendBusyNsPerPacket:F1} ns/pkt calls={r.BackendCalls} kicks={r.BackendKicksReceived} wakeups={r.BackendWakeups} gen0={r.BackendGen0} gen1={r.BackendGen1} gen2={r.BackendGen2} allocated={r.BackendAllocatedBytes}B (data plane {r.BackendDataPlaneAllocatedBytes}B)" : "")}"));
        }
        if (r.GuestPoll != null || r.BackendPoll != null)
        {
            s.AppendLine(string.Create(ci, $"  decisions  guest {Decisions(r.GuestPoll)}; backend {Decisions(r.BackendPoll)}"));
        }
        if (r.RingErrors > 0)
        {
            s.AppendLine($"  ERROR      the back-end signalled {r.RingErrors} ring error(s) on the err fds");
        }
        return s.ToString();
    }

    /// <summary>One line per trial (--trials without --json).</summary>
    public static string Trial(Trials.TrialResult r)
    {
        var l = r.LatencyNs;
        return string.Create(CultureInfo.InvariantCulture,
            $"trial {(r.IntendedPps > 0 ? $"{r.IntendedPps / 1e6:F3} Mpps" : r.MaxInFlight == 1 ? "ping-pong" : "max")} x {r.IntendedDurationS:G4} s: offered={r.Offered} sent={r.Sent} tx_dropped={r.TxDropped} received={r.Received} lost={r.Lost} ({r.LossRatio:P3}) stale={r.Stale} late={r.GeneratorShortfall} errors={r.Errors} backend_dropped={r.BackendDropped} rx={r.ReceivedPps / 1e6:F3} Mpps p50={l.P50 / 1000.0:F2} p99={l.P99 / 1000.0:F2} us cpu loadgen={r.LoadgenThreadCpuNs / 1e6:F1} ms backend={(r.BackendCpuNs >= 0 ? $"{r.BackendCpuNs / 1e6:F1} ms" : "n/a")}");
    }

    /// <summary>A strategy's decisions in a few words: sleeps, their length, the budget.</summary>
    private static string Decisions(Vhost.Polling.PollDecisions? d) => d == null
        ? "polls"
        : string.Create(CultureInfo.InvariantCulture, $"sleeps={d.Sleeps} (p50<{d.SleepQuantileUs(0.5):0} us p99<{d.SleepQuantileUs(0.99):0} us) arms_found_work={d.ArmsFoundWork} budget={d.BudgetNs / 1000.0:0.#} us notify_window={d.NotifyWindowNs / 1000.0:0.#} us notify_polls={d.NotifyPolls} wake_probes={d.WakeProbes}{(d.Naps > 0 ? $" naps={d.Naps} naps_found_work={d.NapsFoundWork}" : "")}");
}

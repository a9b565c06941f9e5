using System.CommandLine;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace PerfLab.Reports.Cli.Commands;

/// <summary>
/// backend-packets SOCKET: frames a running perflab-backend has taken from (tx) or put on (rx)
/// the guest's rings, from its stats socket (it writes one JSON snapshot and closes). For the
/// scripts that count what a back-end moved between two instants; with --busy-ns, also its
/// workers' busy time, so that they get the busy ns per frame of the same instants.
/// </summary>
public static class BackendStatsCommand
{
    public static Command Create()
    {
        var socket = new Argument<string>("SOCKET") { Description = "the back-end's --stats-socket" };
        var direction = new Option<string>("--direction") { Description = "tx (taken from the guest) or rx", DefaultValueFactory = _ => "tx" };
        direction.AcceptOnlyFromAmong("tx", "rx");
        var busy = new Option<bool>("--busy-ns") { Description = "also print its workers' busy time so far in ns, after the packets (two counters of one snapshot)" };
        var cmd = new Command("backend-packets", "Print the packets a running perflab-backend counted on its tx (or rx) queues.") { socket, direction, busy };
        cmd.SetAction(p => Program.Guard("backend-packets", () =>
        {
            string json = Fetch(p.GetValue(socket)!);
            string dir = p.GetValue(direction)!;
            using JsonDocument doc = JsonDocument.Parse(json);
            long sum = 0;
            foreach (JsonElement q in doc.RootElement.GetProperty("queues").EnumerateArray())
            {
                if (q.GetProperty("direction").GetString() == dir)
                {
                    sum += q.GetProperty("packets").GetInt64();
                }
            }
            if (p.GetValue(busy))
            {
                long busyNs = 0;
                foreach (JsonElement w in doc.RootElement.GetProperty("workers").EnumerateArray())
                {
                    busyNs += w.GetProperty("busy_ns").GetInt64();
                }
                Console.WriteLine($"{sum} {busyNs}");
            }
            else
            {
                Console.WriteLine(sum);
            }
            return Program.Ok;
        }));
        return cmd;
    }

    private static string Fetch(string path)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.ReceiveTimeout = 5000;
        s.Connect(new UnixDomainSocketEndPoint(path));
        var sb = new StringBuilder();
        var buf = new byte[65536];
        int n;
        while ((n = s.Receive(buf)) > 0)
        {
            sb.Append(Encoding.UTF8.GetString(buf, 0, n));
        }
        return sb.ToString();
    }
}

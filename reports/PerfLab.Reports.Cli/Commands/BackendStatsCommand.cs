using System.CommandLine;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace PerfLab.Reports.Cli.Commands;

/// <summary>
/// backend-packets SOCKET: frames a running perflab-backend has taken from (tx) or put on (rx)
/// the guest's rings, from its stats socket (it writes one JSON snapshot and closes). For the
/// scripts that count what a back-end moved between two instants.
/// </summary>
public static class BackendStatsCommand
{
    public static Command Create()
    {
        var socket = new Argument<string>("SOCKET") { Description = "the back-end's --stats-socket" };
        var direction = new Option<string>("--direction") { Description = "tx (taken from the guest) or rx", DefaultValueFactory = _ => "tx" };
        direction.AcceptOnlyFromAmong("tx", "rx");
        var cmd = new Command("backend-packets", "Print the packets a running perflab-backend counted on its tx (or rx) queues.") { socket, direction };
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
            Console.WriteLine(sum);
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

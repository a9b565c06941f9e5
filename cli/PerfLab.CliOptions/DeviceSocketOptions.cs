using System.CommandLine;

namespace PerfLab.CliOptions;

/// <summary>
/// Which socket files a daemon's devices use, spelled the same in both daemons: --socket (given
/// again for each further device, device d is the d-th) or --sockets DIR with --devices N
/// (device d on <c>inFolder(DIR, d)</c>).
/// </summary>
public sealed class DeviceSocketOptions
{
    private readonly Func<string, int, string> _inFolder;
    private readonly bool _devicesCountSockets;

    /// <param name="devicesCountSockets">true: --devices N may also say how many --socket paths
    /// follow (the load generator); false: --devices needs --sockets (the back-end).</param>
    public DeviceSocketOptions(string defaultSocket, string socketHelp, string socketsHelp, string devicesHelp,
        Func<string, int, string> inFolder, bool devicesCountSockets)
    {
        Socket = Opt.Texts("--socket", "PATH", socketHelp, defaultSocket);
        Sockets = Opt.Optional("--sockets", "DIR", socketsHelp, Opt.PathValue("a folder"));
        Devices = Opt.Int("--devices", "N", devicesHelp, 1, 1, 4096);
        _inFolder = inFolder;
        _devicesCountSockets = devicesCountSockets;
    }

    public Option<string[]> Socket { get; }

    public Option<string?> Sockets { get; }

    public Option<int> Devices { get; }

    /// <summary>Every option of the set, in help order.</summary>
    public Option[] All => [Socket, Sockets, Devices];

    /// <summary>The devices' sockets in device order; <see cref="ArgumentException"/> for a
    /// combination that does not go together.</summary>
    public IReadOnlyList<string> Bind(ParseResult r)
    {
        string[] given = r.GetValue(Socket)!;
        string? dir = r.GetValue(Sockets);
        int n = r.GetValue(Devices);
        if (dir != null)
        {
            if (r.GetResult(Socket) is { Implicit: false })
            {
                throw new ArgumentException("--socket and --sockets: give one or the other");
            }
            return [.. Enumerable.Range(0, n).Select(d => _inFolder(dir, d))];
        }
        if (n != 1 && !(_devicesCountSockets && n == given.Length))
        {
            throw new ArgumentException(_devicesCountSockets ? $"--devices {n} needs --sockets DIR or {n} --socket paths" : "--devices needs --sockets DIR");
        }
        if (given.Distinct().Count() != given.Length)
        {
            throw new ArgumentException("--socket: the same path twice");
        }
        return given;
    }
}

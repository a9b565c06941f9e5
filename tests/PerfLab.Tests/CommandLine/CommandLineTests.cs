using System.Reflection;
using PerfLab.Backend.Cli;
using PerfLab.Backend.Devices;
using PerfLab.Backend.Server;
using PerfLab.LoadGen;
using PerfLab.LoadGen.Cli;
using PerfLab.LoadGen.Trials;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Polling;
using PerfLab.Vhost.Protocol;
using Xunit;

namespace PerfLab.Tests.CommandLine;

/// <summary>
/// Both daemons' command lines (issue 13): one definition per option gives help, defaults,
/// validation, --version and --name=value; a typo or a bad value is one line and exit 2, never
/// a stack trace; no parsing is left in the core library.
/// </summary>
public class CommandLineTests
{
    [Theory]
    [InlineData("--cpus", "x")]
    [InlineData("--cpus", "1,,2")]
    [InlineData("--disable-features", "0xZZ")]
    [InlineData("--disable-features", "nosuch")]
    [InlineData("--disable-protocol", "0x")]
    [InlineData("--batch", "0")]
    [InlineData("--queues", "1.5")]
    [InlineData("--mode", "mirror")]
    [InlineData("--tx-return", "later")]
    [InlineData("--workers", "0")]
    [InlineData("--workers", "1025")]
    [InlineData("--devices", "0")]
    [InlineData("--queue-affinity", "0:1=x")]
    [InlineData("--queue-affinity", "0-1=2")]
    [InlineData("--reply-timeout-s", "soon")]
    [InlineData("--reply-timeout-s", "-1")]
    [InlineData("--hybrid-min-us", "-5")]
    [InlineData("--hybrid-max-us", "lots")]
    [InlineData("--hybrid-breakeven-us", "x")]
    [InlineData("--hybrid-notify-poll-us", "1us")]
    [InlineData("--hybrid-kick-batch", "-1")]
    [InlineData("--hybrid-kick-timeout-us", "0")]
    [InlineData("--hybrid-kick-fill-us", "-1")]
    [InlineData("--kick-fds", "both")]
    [InlineData("--poll", "spin")]
    [InlineData("--stats-interval", "-1")]
    [InlineData("--no-such-option", "1")]
    public void ABackendTypoIsOneLineNamingTheProblem(string option, string value)
    {
        var e = Assert.Throws<ArgumentException>(() => new BackendCommand().Parse([option, value]));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains(option == "--no-such-option" ? option : value, e.Message);
    }

    [Theory]
    [InlineData("--order", "7")]
    [InlineData("--size", "20")]
    [InlineData("--queue-size", "100")]
    [InlineData("--rate", "fast")]
    [InlineData("--rate", "0")]
    [InlineData("--trials", "1M")]
    [InlineData("--trials", "1M@0")]
    [InlineData("--trials", "-5@1")]
    [InlineData("--call-fds", "sometimes")]
    public void ALoadGenTypoIsOneLineNamingTheProblem(string option, string value)
    {
        var e = Assert.Throws<ArgumentException>(() => new LoadGenCommand().Parse([option, value]));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains(value, e.Message);
    }

    [Fact]
    public void OptionsThatDoNotGoTogetherAreRefused()
    {
        Assert.Contains("--queue-size", Assert.Throws<ArgumentException>(() => new LoadGenCommand().Parse(["--burst", "64", "--queue-size", "32"])).Message);
        Assert.Contains("--hybrid-fixed", Assert.Throws<ArgumentException>(() => new BackendCommand().Parse(["--hybrid-adaptive", "--hybrid-fixed"])).Message);
        Assert.Contains("--backoff-max-us", Assert.Throws<ArgumentException>(() => new BackendCommand().Parse(["--backoff-min-us", "10", "--backoff-max-us", "5"])).Message);
        Assert.Contains("--reconnect-max-ms", Assert.Throws<ArgumentException>(() => new BackendCommand().Parse(["--reconnect-min-ms", "500", "--reconnect-max-ms", "10"])).Message);
        Assert.Contains("--devices needs --sockets DIR", Assert.Throws<ArgumentException>(() => new BackendCommand().Parse(["--devices", "2"])).Message);
        Assert.Contains("--devices needs --sockets DIR", Assert.Throws<ArgumentException>(() => new BackendCommand().Parse(["--socket", "/a", "--socket", "/b", "--devices", "2"])).Message);
        Assert.Contains("one or the other", Assert.Throws<ArgumentException>(() => new BackendCommand().Parse(["--socket", "/a", "--sockets", "/d", "--devices", "2"])).Message);
        Assert.Contains("the same path twice", Assert.Throws<ArgumentException>(() => new BackendCommand().Parse(["--socket", "/a", "--socket", "/a"])).Message);
    }

    [Fact]
    public void APathLeftOutNamesItsOptionNotTheTokenAfterIt()
    {
        string e = Assert.Throws<ArgumentException>(() => new BackendCommand().Parse(["--sockets", "--devices", "2"])).Message;
        Assert.Contains("--sockets: needs a folder, not the option '--devices'", e);
        Assert.Contains("--stats-socket: needs a path", Assert.Throws<ArgumentException>(() => new BackendCommand().Parse(["--stats-socket", "--workers", "1"])).Message);
        Assert.Contains("--sockets: needs a folder", Assert.Throws<ArgumentException>(() => new LoadGenCommand().Parse(["--sockets", "--devices", "4"])).Message);
    }

    [Fact]
    public void NoArgumentsGiveTheOptionsRecordsDefaults()
    {
        BackendOptions b = new BackendCommand().Parse([]), bd = new();
        Assert.Equal(bd.SocketPaths, b.SocketPaths);
        Assert.Empty(b.QueueAffinity);
        Assert.Equal(bd with { Device = null!, SocketPaths = null!, QueueAffinity = null! }, b with { Device = null!, SocketPaths = null!, QueueAffinity = null! });
        NetDeviceOptions d = new BackendCommand().Parse([]).Device, dd = new();
        Assert.Equal((dd.Mode, dd.TxReturn, dd.Backpressure, dd.Batch, dd.MaxQueuePairs, dd.PairsPerWorker, dd.Cpus, dd.DisabledFeatures, dd.DisabledProtocolFeatures, dd.Poll),
            (d.Mode, d.TxReturn, d.Backpressure, d.Batch, d.MaxQueuePairs, d.PairsPerWorker, d.Cpus, d.DisabledFeatures, d.DisabledProtocolFeatures, d.Poll));
        LoadGenInvocation l = new LoadGenCommand().Parse([]);
        Assert.Equal(new LoadGenOptions(), l.Options);
        Assert.Empty(l.Trials);
    }

    [Fact]
    public void BothSpellingsOfAValueAndEveryOptionKindBind()
    {
        BackendOptions o = new BackendCommand().Parse(["--socket=/tmp/a.sock", "--cpus", "0-2,5", "--disable-features=event-idx,mq",
            "--disable-protocol", "0x10", "--poll=hybrid", "--hybrid-budget-us", "20", "--hybrid-fixed", "--drop-when-full", "--mode", "sink",
            "--socket-mode", "660", "--max-sessions", "3", "--tx-return=deferred"]);
        Assert.Equal("/tmp/a.sock", o.SocketPath);
        Assert.Equal([0, 1, 2, 5], o.Device.Cpus!);
        Assert.Equal(VirtioFeatures.RingEventIdx | VirtioFeatures.NetMq, o.Device.DisabledFeatures);
        Assert.Equal(0x10UL, o.Device.DisabledProtocolFeatures);
        Assert.Equal(new PollOptions { Mode = PollMode.Hybrid, HybridBudgetUs = 20, HybridAdaptive = false }, o.Device.Poll);
        Assert.False(o.Device.Backpressure);
        Assert.Equal(NetMode.Sink, o.Device.Mode);
        Assert.Equal((Mono.Unix.Native.FilePermissions)0x1B0, o.SocketMode);
        Assert.Equal(3, o.MaxSessions);
        Assert.Equal(PerfLab.Vhost.Virtq.TxReturn.Deferred, o.Device.TxReturn);

        BackendOptions m = new BackendCommand().Parse(["--sockets", "/run/v", "--devices", "3", "--workers", "2", "--pairs-per-worker", "2",
            "--queue-affinity", "0:1=1,2:0=0", "--reply-timeout-s", "0.5"]);
        Assert.Equal(["/run/v/vhost-0.sock", "/run/v/vhost-1.sock", "/run/v/vhost-2.sock"], m.SocketPaths);
        Assert.Equal(2, m.Workers);
        Assert.Equal(2, m.Device.PairsPerWorker);
        Assert.Equal(new Dictionary<(int, int), int> { [(0, 1)] = 1, [(2, 0)] = 0 }, m.QueueAffinity);
        Assert.Equal(TimeSpan.FromSeconds(0.5), m.ReplyTimeout);
        Assert.Equal(new PollOptions { Mode = PollMode.Hybrid, HybridMinUs = 5, HybridMaxUs = 100, HybridBreakEvenUs = 4, HybridNotifyPollUs = 30 },
            new BackendCommand().Parse(["--poll", "hybrid", "--hybrid-min-us", "5", "--hybrid-max-us", "100", "--hybrid-breakeven-us", "4", "--hybrid-notify-poll-us=30"]).Device.Poll);
        Assert.Equal(4, new LoadGenCommand().Parse(["--hybrid-breakeven-us", "4"]).Options.Poll.HybridBreakEvenUs);
        Assert.Equal(new PollOptions { Mode = PollMode.Hybrid, HybridKickBatch = 64, HybridKickTimeoutUs = 150 },
            new BackendCommand().Parse(["--poll", "hybrid", "--hybrid-kick-batch", "64", "--hybrid-kick-timeout-us", "150"]).Device.Poll);
        PollOptions fill = new BackendCommand().Parse(["--poll", "hybrid", "--hybrid-kick-batch", "256", "--hybrid-kick-fill-us", "100"]).Device.Poll;
        Assert.Equal(100, fill.HybridKickFillUs);
        Assert.Contains("kick-batch=up to 256 filling in 100us/200us", fill.Describe()); // the timeout is at least twice the target
        Assert.True(new BackendCommand().Parse(["--poll", "interrupt"]).Device.Poll.EdgeTriggeredKicks); // the default
        Assert.False(new BackendCommand().Parse(["--poll", "interrupt", "--kick-fds", "level"]).Device.Poll.EdgeTriggeredKicks);
        Assert.Equal(["/a.sock", "/b.sock"], new BackendCommand().Parse(["--socket", "/a.sock", "--socket=/b.sock"]).SocketPaths);
        Assert.Equal("/run/v/vhost-0.sock", new LoadGenCommand().Parse(["--sockets", "/run/v"]).Options.SocketPath);

        LoadGenInvocation l = new LoadGenCommand().Parse(["--order=dpdk", "--rate", "2.5M", "--batch=16", "--lossy", "--trials", "1M@0.5,max@0.2,ping@1", "--json"]);
        Assert.Equal(HandshakeOrder.Dpdk, l.Options.Order);
        Assert.Equal(2.5e6, l.Options.RatePps);
        Assert.Equal(16, l.Options.Burst);
        Assert.True(l.Options.Lossy);
        Assert.True(l.Json);
        Assert.Equal([new TrialSpec(1e6, 0.5), new TrialSpec(0, 0.2), TrialSpec.PingPong(1)], l.Trials);
    }

    [Fact]
    public void HelpIsWrittenFromTheDefinitionsWithTheirDefaults()
    {
        string help = Help(new BackendCommand().Root);
        Assert.Contains("--socket PATH", help);
        Assert.Contains($"(default {new BackendOptions().SocketPath})", help);
        Assert.Contains($"(default {new NetDeviceOptions().Batch})", help);
        Assert.Contains("--poll busy|interrupt|hybrid|backoff", help);
        Assert.Contains("--version", help);
        string lg = Help(new LoadGenCommand().Root);
        Assert.Contains("--order qemu|dpdk", lg);
        Assert.Contains("--trials LIST", lg);
        Assert.Contains("--poll busy|interrupt|hybrid|backoff", lg);
    }

    private static string Help(System.CommandLine.RootCommand root)
    {
        var help = root.Options.OfType<System.CommandLine.Help.HelpOption>().Single().Action;
        return Assert.IsAssignableFrom<PerfLab.CliOptions.OptionHelp>(help).Render();
    }

    [Fact]
    public void TheCoreLibraryParsesNoCommandLine()
    {
        Assembly core = typeof(PollOptions).Assembly;
        Assert.DoesNotContain(core.GetTypes(), t => t.Namespace == "PerfLab.Vhost.Cli" || t.Name == "ArgReader");
        Assert.Null(typeof(PollOptions).GetMethod("TryParseArg"));
        Assert.Null(typeof(PollOptions).GetField("HelpText"));
        Assert.DoesNotContain(core.GetReferencedAssemblies(), a => a.Name == "System.CommandLine");
    }
}

/// <summary>The daemons as a user runs them: exit status and what reaches the terminal.</summary>
[Collection("processes")]
public class CommandLineProcessTests
{
    [Theory]
    [InlineData("perflab-backend", "--cpus", "x")]
    [InlineData("perflab-backend", "--disable-features", "0xZZ")]
    [InlineData("perflab-backend", "--sokcet", "/tmp/x")]
    [InlineData("perflab-backend", "--workrs", "2")]
    [InlineData("perflab-backend", "--devices", "2")]
    [InlineData("perflab-backend", "--queue-affinity", "0:0")]
    [InlineData("perflab-loadgen", "--order", "7")]
    public void ABadCommandLineIsOneLineOnStderrAndExitTwo(string program, string option, string value)
    {
        using var p = new Daemon(program, option, value);
        Assert.Equal(2, p.WaitForExit(Timeouts.Process));
        string err = p.Stderr.Trim();
        Assert.DoesNotContain('\n', err);
        Assert.StartsWith(program + ": ", err);
        Assert.Contains("see --help", err);
        Assert.DoesNotContain("Exception", err);
        Assert.DoesNotContain(" at ", err);
        Assert.Equal("", p.Stdout);
    }

    [Theory]
    [InlineData("perflab-backend")]
    [InlineData("perflab-loadgen")]
    public void HelpAndVersionPrintAndExitZero(string program)
    {
        using (var v = new Daemon(program, "--version"))
        {
            Assert.Equal(0, v.WaitForExit(Timeouts.Process));
            Assert.Matches(@"^\d+\.\d+", v.Stdout.Trim());
        }
        using var h = new Daemon(program, "--help");
        Assert.Equal(0, h.WaitForExit(Timeouts.Process));
        Assert.Contains($"Usage: {program} [options]", h.Stdout);
        Assert.Contains("--socket PATH", h.Stdout);
    }
}

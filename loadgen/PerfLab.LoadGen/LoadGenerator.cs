using PerfLab.LoadGen.Exercises;
using PerfLab.LoadGen.Frontend;
using PerfLab.LoadGen.Guest;
using PerfLab.LoadGen.Measurement;
using PerfLab.LoadGen.Memory;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;

namespace PerfLab.LoadGen;

/// <summary>
/// Plays QEMU and the guest at once for one device, no VM: the front-end session
/// (<see cref="FrontendSession"/>: connection, handshake in QEMU's or DPDK's order), the guest
/// (<see cref="GuestNic"/>: memfd RAM, rings, buffers) and the traffic engine over it, with
/// the protocol exercises (<see cref="MemoryTableChurn"/>, <see cref="DirtyLogCheck"/>, SEND_RARP,
/// reconnects, resets) and the run's phases (<see cref="RunController"/>). This class is the
/// device's lifecycle: set up, restart, stop. Works unchanged against PerfLab's back-end and
/// DPDK's vhost PMD.
/// </summary>
public sealed class LoadGenerator : IDisposable
{
    private readonly LoadGenOptions _o;
    private readonly FrontendSession _session;
    private readonly MemoryTableChurn _churn;
    private readonly DirtyLogCheck _dirtyLog = new();
    private GuestNic? _guest;

    public LoadGenerator(LoadGenOptions options)
    {
        _o = options;
        _session = new FrontendSession(options);
        _churn = new MemoryTableChurn(options.IdentityGpa);
        Runs = new RunController(this);
    }

    public LoadGenOptions Options => _o;

    public FrontendSession Session => _session;

    public ulong AckedFeatures => _session.AckedFeatures;

    public ulong AckedProtocolFeatures => _session.AckedProtocolFeatures;

    public TrafficEngine? Engine { get; private set; }

    public VhostUserFrontend Frontend => _session.Frontend;

    public GuestNic Guest => _guest ?? throw new InvalidOperationException("not set up");

    public GuestRam Ram => Guest.Ram;

    public IReadOnlyList<PairDriver> Pairs => _guest?.Pairs ?? [];

    /// <summary>The run's phases and what they measured (first frame, reconnects, dirty log).</summary>
    public RunController Runs { get; }

    /// <summary>Memory-table changes sent so far (RemapIntervalMs, or <see cref="ChangeMemoryTable"/>).</summary>
    public int MemoryRemaps => _churn.Changes;

    /// <summary>Log of what the handshake did (for --verbose and tests).</summary>
    public Action<string>? Trace
    {
        get => _session.Trace;
        set => _session.Trace = value;
    }

    /// <summary>Connects, negotiates and sets up every ring; traffic can start after this.</summary>
    public void Setup()
    {
        if (_o.DirtyLog && _o.IdentityGpa)
        {
            throw new ArgumentException("DirtyLog needs guest-physical addresses from 0x1_0000_0000 (not IdentityGpa): the bitmap covers every page below the top of RAM");
        }
        _session.Open();
        _guest = _session.Handshake(null);
        Engine = TrafficEngine.Create(_guest.Pairs, _o, VirtioFeatures.Has(AckedFeatures, VirtioFeatures.NetMrgRxbuf),
            VirtioFeatures.Has(AckedFeatures, VirtioFeatures.InOrder));
        foreach (PairDriver p in _guest.Pairs)
        {
            if (!_o.TxOnly && p.PostAllRx())
            {
                EventFd.Signal(p.KickRx);
            }
        }
        AfterStart();
    }

    /// <summary>What a front-end does once the device runs: migration's dirty logging, the
    /// destination's RARP announcement.</summary>
    private void AfterStart()
    {
        if (_o.DirtyLog)
        {
            _dirtyLog.Enable(_session, Guest);
        }
        if (_o.SendRarp)
        {
            Span<byte> mac = stackalloc byte[6];
            FrameLayout.SrcMac(mac, 0);
            Frontend.SendRarp(mac);
        }
    }

    /// <summary>
    /// Closes the connection and opens a new one (connect again, or listen again for a back-end
    /// in client mode) while the guest keeps running: guest RAM, rings and buffers stay, and each
    /// ring resumes at used.idx as read from guest memory (what QEMU sends in SET_VRING_BASE when
    /// the back-end went away and GET_VRING_BASE was impossible,
    /// docs/protocol.md#disconnect-and-reconnect). Drains first: a packed ring's base is the
    /// driver's own used position, right only once the rings are
    /// <see cref="TrafficEngine.Quiescent"/>.
    /// </summary>
    public void Reconnect()
    {
        if (!_session.Connected || Engine == null)
        {
            throw new InvalidOperationException("Setup first");
        }
        Engine.Drain(_o.DrainTimeoutS);
        _session.Close();
        _churn.OnNewSession();
        _session.Open();
        Engine.C.FirstRxTick = 0;
        _session.Handshake(_guest, _dirtyLog.Active);
        AfterStart();
    }

    /// <summary>
    /// RESET_DEVICE, then starts the device again on the same connection (features, memory
    /// table, rings at used.idx, enables), as a front-end does after resetting a device whose
    /// guest keeps its rings. Every frame in flight is let back first.
    /// </summary>
    public void ResetAndRestart()
    {
        TrafficEngine e = Engine ?? throw new InvalidOperationException("Setup first");
        e.Drain(_o.DrainTimeoutS);
        Frontend.ResetDevice();
        _session.Handshake(_guest, _dirtyLog.Active);
        AfterStart();
        e.Sending = true;
        e.StartSchedule();
    }

    /// <summary>Changes the memory table once (see <see cref="MemoryTableChurn"/>).</summary>
    public void ChangeMemoryTable() => _churn.Change(_session, Guest);

    /// <summary>See <see cref="RunController.Run"/>.</summary>
    public LoadGenResult Run() => Runs.Run();

    /// <summary>See <see cref="RunController.ReconnectAndTime"/>.</summary>
    public double ReconnectAndTime() => Runs.ReconnectAndTime();

    internal (long Logged, long Expected, long Mismatches) CheckDirtyLog() => _dirtyLog.Check(Guest, AckedFeatures, _o);

    /// <summary>Stops the device as QEMU does; returns the next avail index per ring.</summary>
    public uint[] Teardown() => _session.Teardown();

    public void Dispose()
    {
        Engine?.Dispose();
        _guest?.Dispose();
        _session.Dispose();
        _churn.Dispose();
        _dirtyLog.Dispose();
    }
}

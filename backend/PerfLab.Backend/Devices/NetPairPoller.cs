using PerfLab.Backend.Rings;
using PerfLab.Backend.Workers;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Backend.Devices;

/// <summary>
/// What a worker polls for one virtio-net queue pair: the data path over the pair's rings,
/// specialised for their layout through <typeparamref name="TRing"/> and
/// <typeparamref name="TAccess"/> (generic struct arguments, so no call is virtual below
/// <see cref="Poll"/>). Built by <see cref="NetDevice"/> for one view of the device (memory,
/// negotiated data path) and replaced at the next.
/// </summary>
internal sealed class NetPairPoller<TRing, TAccess> : QueuePoller
    where TRing : struct, IDeviceRing
    where TAccess : struct, IVringAccess<TRing>
{
    private readonly NetDevice _device;
    private readonly QueuePair _p;
    private readonly GuestMemory _mem;
    private readonly DataPathConfig _cfg;
    private readonly Vring _tx;
    private readonly Vring? _rx;            // null: RX not running (sink and copy modes)
    private readonly Vring[] _kickRings;    // rings with a kick fd, in kick-fd order
    private readonly bool _mustPoll;

    public NetPairPoller(NetDevice device, QueuePair p, GuestMemory mem, in DataPathConfig cfg)
    {
        _device = device;
        _p = p;
        _mem = mem;
        _cfg = cfg;
        _tx = p.Tx!;
        _rx = p.Rx is { IsActive: true } ? p.Rx : null;
        Vring[] rings = _rx != null ? [_rx, _tx] : [_tx];
        _kickRings = rings.Where(v => v.KickFd >= 0).ToArray();
        _mustPoll = rings.Any(v => v.KickFd < 0); // NOFD: the front-end will never kick it
    }

    public override object Owner => _device;

    public override bool MustPoll => _mustPoll;

    public override int KickFdCount => _kickRings.Length;

    public override int KickFd(int i) => _kickRings[i].KickFd;

    public override int Poll()
    {
        QueuePair p = _p;
        if (p.Dead)
        {
            return 0;
        }
        int work = 0;
        if (p.PendingRarp != null && NetDataPath.InjectRarp(p, ref TAccess.Ring(p.Rx!), _mem, _cfg.HdrLen, p.PendingRarp, _cfg.Log))
        {
            p.PendingRarp = null;
            work++;
        }
        work += _cfg.Mode == NetMode.Loopback
            ? NetDataPath.Loopback(p, ref TAccess.Ring(_tx), ref TAccess.Ring(p.Rx!), _mem, in _cfg)
            : NetDataPath.Sink(p, ref TAccess.Ring(_tx), _mem, in _cfg);
        return work;
    }

    public override bool Arm(int kickAhead)
    {
        QueuePair p = _p;
        if (p.Dead)
        {
            return false;
        }
        if (_cfg.TxReturn != TxReturn.Immediate)
        {
            // Nothing is held back across a sleep: the driver may be waiting for it.
            NetDataPath.FlushTx(p, ref TAccess.Ring(_tx));
        }
        // Loopback blocked on a full RX waits for RX buffers (a kick on the first: the frames
        // waiting behind them are already late), otherwise for a batch of TX frames.
        bool pending = _cfg.Mode == NetMode.Loopback && p.TxBlocked
            ? TAccess.Ring(p.Rx!).EnableKicks()
            : TAccess.Ring(_tx).EnableKicks(kickAhead);
        return pending | p.PendingRarp != null;
    }

    public override void Disarm()
    {
        if (!_p.Dead)
        {
            TAccess.Ring(_tx).DisableKicks();
            if (_rx != null)
            {
                TAccess.Ring(_rx).DisableKicks();
            }
        }
    }

    public override bool OnKick(int i, bool drain)
    {
        Vring v = _kickRings[i];
        long kicks = drain ? (long)EventFd.Drain(v.KickFd) : 1;
        v.Counters.Kicks += kicks;
        return kicks != 0;
    }

    public override long CallsSent => _tx.Counters.Calls + (_rx?.Counters.Calls ?? 0);

    public override string Describe() => $"pair {_p.Index}";
}

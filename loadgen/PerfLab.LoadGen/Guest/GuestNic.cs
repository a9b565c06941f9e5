using PerfLab.LoadGen.Memory;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Net;
using PerfLab.Vhost.Protocol;

namespace PerfLab.LoadGen.Guest;

/// <summary>
/// The guest's side of one virtio-net device: its RAM (memfd regions) and its queue pairs
/// (rings, buffers, kick/call/err eventfds), laid out once the features are known. What the
/// front-end session tells the back-end about memory and rings comes from here.
/// </summary>
public sealed class GuestNic : IDisposable
{
    private GuestNic(GuestRam ram, PairDriver[] pairs)
    {
        Ram = ram;
        Pairs = pairs;
    }

    public GuestRam Ram { get; }

    public PairDriver[] Pairs { get; }

    /// <summary>Vrings: rx = 2i, tx = 2i+1.</summary>
    public int Rings => 2 * Pairs.Length;

    /// <summary>Creates the RAM (the size the rings and buffers need, or --memory-mb) and every
    /// queue pair for the negotiated <paramref name="features"/>.</summary>
    public static GuestNic Create(LoadGenOptions o, ulong features)
    {
        int hdr = VirtioNetHeader.SizeFor(features);
        int rxBuf = o.EffectiveRxBufSize(hdr);
        bool indirect = VirtioFeatures.Has(features, VirtioFeatures.RingIndirectDesc);
        bool eventIdx = VirtioFeatures.Has(features, VirtioFeatures.RingEventIdx);
        bool packed = VirtioFeatures.Has(features, VirtioFeatures.RingPacked);
        ulong need = (ulong)o.Queues * ((ulong)o.QueueSize * (ulong)(rxBuf + ((hdr + o.FrameSize + 63) / 64 * 64) + 64 + (indirect ? 64 : 0)) + 64 * 4096UL);
        ulong bytes = o.MemoryMb > 0 ? (ulong)o.MemoryMb << 20 : Math.Max(16UL << 20, (need * 5 / 4 + (1 << 20) - 1) & ~((1UL << 20) - 1));
        var ram = new GuestRam(bytes, o.Regions, identity: o.IdentityGpa);
        var pairs = new PairDriver[o.Queues];
        try
        {
            for (int i = 0; i < o.Queues; i++)
            {
                PairDriver p = PairDriver.Create(packed, i, ram, (ushort)o.QueueSize, hdr, o.FrameSize, (uint)rxBuf, eventIdx, indirect);
                pairs[i] = p;
                p.KickRx = EventFd.Create();
                p.KickTx = EventFd.Create();
                p.ErrRx = EventFd.Create();
                p.ErrTx = EventFd.Create();
                if (o.UsesCallFds)
                {
                    p.CallRx = EventFd.Create();
                    p.CallTx = EventFd.Create();
                }
            }
        }
        catch
        {
            foreach (PairDriver? p in pairs)
            {
                p?.Dispose();
            }
            ram.Dispose();
            throw;
        }
        return new GuestNic(ram, pairs);
    }

    public PairDriver PairOf(int ring) => Pairs[ring / 2];

    private static bool IsRx(int ring) => ring % 2 == 0;

    public int KickFd(int ring) => IsRx(ring) ? PairOf(ring).KickRx : PairOf(ring).KickTx;

    public int CallFd(int ring) => IsRx(ring) ? PairOf(ring).CallRx : PairOf(ring).CallTx;

    public int ErrFd(int ring) => IsRx(ring) ? PairOf(ring).ErrRx : PairOf(ring).ErrTx;

    /// <summary>SET_VRING_BASE: a fresh ring starts at 0 (packed: 0x80008000, both wrap counters
    /// 1); a ring that ran under a previous connection resumes at its used position.</summary>
    public uint RestartBase(int ring) => PairOf(ring).RestartBase(IsRx(ring));

    /// <summary>SET_VRING_ADDR for <paramref name="ring"/> (front-end virtual addresses; the
    /// log address is the guest-physical address of the part the device writes).</summary>
    public VringAddr RingAddr(int ring, bool log)
    {
        var (desc, driver, device) = PairOf(ring).RingGpas(IsRx(ring));
        return new VringAddr
        {
            Index = (uint)ring,
            Flags = log ? VringAddr.FlagLog : 0,
            DescUserAddr = Ram.Fva(desc),
            AvailUserAddr = Ram.Fva(driver),
            UsedUserAddr = Ram.Fva(device),
            LogGuestAddr = device,
        };
    }

    /// <summary>The plain memory table: one entry per region.</summary>
    public (List<MemoryRegionDesc> Regions, List<int> Fds) MemTable() =>
        (Ram.Regions.Select(r => r.Desc).ToList(), Ram.Regions.Select(r => r.Fd).ToList());

    /// <summary>Ring errors the back-end signalled on the err fds since the last call.</summary>
    public long DrainErrFds() => Pairs.Sum(p => (long)(EventFd.Drain(p.ErrRx) + EventFd.Drain(p.ErrTx)));

    public void Dispose()
    {
        foreach (PairDriver p in Pairs)
        {
            p.Dispose();
        }
        Ram.Dispose();
    }
}

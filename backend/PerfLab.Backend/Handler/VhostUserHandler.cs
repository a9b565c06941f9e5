using System.Runtime.InteropServices;
using PerfLab.Backend.Devices;
using PerfLab.Backend.Logging;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Net;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Backend.Handler;

/// <summary>
/// The vhost-user control plane for one front-end connection: one method per request, each
/// checking its payload before it acts (request, field, value and limit in every rejection).
/// It owns the memory table and the rings' configuration and drives the device through
/// <see cref="IVhostDevice"/>: every change to rings or memory happens while the device's
/// workers are paused. Accepts the orders QEMU 7.2 and DPDK 22.11 really send (reference
/// §10.7), including SET_VRING_ENABLE before any ring is configured.
/// </summary>
public sealed partial class VhostUserHandler : IDisposable
{
    private readonly IVhostDevice _device;
    private readonly Vring[] _vrings;
    private readonly MemoryTable _memory = new();
    private readonly int _maxRings;

    private ulong _ackedFeatures;
    private bool _featuresSet;
    private ulong _ackedProtocol;
    private bool _owner;
    private byte _status;
    private int _backendReqFd = -1;
    private int _logFd = -1;
    private DirtyLog? _log;
    private uint _mtu;
    private byte[]? _pendingRarp;
    private bool _disposed;

    public VhostUserHandler(IVhostDevice device, Vring[] vrings)
    {
        _device = device;
        _vrings = vrings;
        _maxRings = Math.Min(vrings.Length, 2 * device.MaxQueuePairs);
    }

    public ulong AckedFeatures => _ackedFeatures;

    public ulong AckedProtocolFeatures => _ackedProtocol;

    public byte Status => _status;

    /// <summary>SET_OWNER was received (the session has started).</summary>
    public bool HasOwner => _owner;

    public GuestMemory Memory => _memory.Current;

    /// <summary>MTU set by NET_SET_MTU (0: never set).</summary>
    public uint Mtu => _mtu;

    /// <summary>The dirty log mapped by SET_LOG_BASE (null: none).</summary>
    public DirtyLog? DirtyLog => _log;

    /// <summary>Memory-table changes applied (SET_MEM_TABLE remaps, ADD/REM_MEM_REG).</summary>
    public int MemoryChanges { get; private set; }

    /// <summary>Requests handled and rejected on this connection.</summary>
    public int Handled { get; private set; }

    public int Rejected { get; private set; }

    private bool HasProtocol(ulong bit) => (_ackedProtocol & bit) != 0;

    /// <summary>Rings are packed (VIRTIO_F_RING_PACKED acked).</summary>
    private bool PackedRings => VirtioFeatures.Has(_ackedFeatures, VirtioFeatures.RingPacked);

    /// <summary>
    /// Handles one message and sends its reply, if any. A <see cref="VhostProtocolException"/>
    /// that escapes means the connection must be closed; a refused request whose failure can be
    /// reported (NEED_REPLY on a request without its own reply) gets a failure ack instead.
    /// Fds the handler did not take are closed by the caller.
    /// </summary>
    public void Handle(ReceivedMessage msg, IMessageSender channel)
    {
        VhostUserHeader h = msg.Header;
        bool ownReply = HasOwnReply(h.Request);
        try
        {
            MessageCodec.ValidatePayloadSize(h);
            var (min, max) = MessageCodec.FdRange(h.Request, msg.PayloadSpan);
            if (msg.Fds.Count < min || msg.Fds.Count > max)
            {
                throw new VhostProtocolException(h.Request, "fds", (ulong)msg.Fds.Count,
                    min == max ? $"takes exactly {min}" : $"takes {min}..{max}");
            }
            byte[]? reply = Dispatch(msg);
            Handled++;
            if (ownReply)
            {
                SendReply(channel, h.Request, reply ?? []);
            }
            else if (h.NeedsReply)
            {
                SendReply(channel, h.Request, BitConverter.GetBytes(0UL));
            }
        }
        catch (VhostProtocolException e)
        {
            Rejected++;
            if (!ownReply && h.NeedsReply && !e.Fatal)
            {
                Log.Error($"rejected {e.Message}; replied failure");
                SendReply(channel, h.Request, BitConverter.GetBytes(1UL));
                return;
            }
            if (!ownReply && h.NeedsReply)
            {
                // Fatal: the failure ack goes out, and the caller logs the error as it closes.
                SendReply(channel, h.Request, BitConverter.GetBytes(1UL));
            }
            throw;
        }
    }

    private static void SendReply(IMessageSender ch, VhostUserRequest r, ReadOnlySpan<byte> payload) =>
        ch.SendRaw(r, VhostUserFlags.Version1 | VhostUserFlags.Reply, payload);

    /// <summary>Requests that always get a reply of their own (reference §2.2, "Reply").</summary>
    public static bool HasOwnReply(VhostUserRequest r) => r is VhostUserRequest.GetFeatures
        or VhostUserRequest.GetProtocolFeatures or VhostUserRequest.GetVringBase
        or VhostUserRequest.GetQueueNum or VhostUserRequest.GetStatus
        or VhostUserRequest.GetMaxMemSlots or VhostUserRequest.GetConfig
        or VhostUserRequest.GetInflightFd or VhostUserRequest.IotlbMsg or VhostUserRequest.SetLogBase
        or VhostUserRequest.PostcopyAdvise or VhostUserRequest.PostcopyListen
        or VhostUserRequest.PostcopyEnd or VhostUserRequest.CheckDeviceState
        or VhostUserRequest.SetDeviceStateFd or VhostUserRequest.GetSharedObject
        or VhostUserRequest.GetShmemConfig;

    private byte[]? Dispatch(ReceivedMessage m)
    {
        VhostUserRequest r = m.Header.Request;
        ReadOnlySpan<byte> p = m.PayloadSpan;
        switch (r)
        {
            case VhostUserRequest.GetFeatures: return U64(_device.OfferedFeatures);
            case VhostUserRequest.SetFeatures: SetFeatures(U64(r, p)); return null;
            case VhostUserRequest.SetOwner: _owner = true; return null;
            case VhostUserRequest.ResetOwner: ResetDevice(r); return null;
            case VhostUserRequest.GetProtocolFeatures: return U64(_device.OfferedProtocolFeatures);
            case VhostUserRequest.SetProtocolFeatures: SetProtocolFeatures(U64(r, p)); return null;
            case VhostUserRequest.SetMemTable: SetMemTable(m); return null;
            case VhostUserRequest.SetVringNum: SetVringNum(MessageCodec.ReadPayload<VringState>(r, p)); return null;
            case VhostUserRequest.SetVringAddr: SetVringAddr(MessageCodec.ReadPayload<VringAddr>(r, p)); return null;
            case VhostUserRequest.SetVringBase: SetVringBase(MessageCodec.ReadPayload<VringState>(r, p)); return null;
            case VhostUserRequest.GetVringBase: return GetVringBase(MessageCodec.ReadPayload<VringState>(r, p));
            case VhostUserRequest.SetVringKick: SetVringFd(r, U64(r, p), m); return null;
            case VhostUserRequest.SetVringCall: SetVringFd(r, U64(r, p), m); return null;
            case VhostUserRequest.SetVringErr: SetVringFd(r, U64(r, p), m); return null;
            case VhostUserRequest.GetQueueNum: Require(r, ProtocolFeatures.Mq, "MQ"); return U64((ulong)_device.MaxQueuePairs);
            case VhostUserRequest.SetVringEnable: SetVringEnable(MessageCodec.ReadPayload<VringState>(r, p)); return null;
            case VhostUserRequest.SetBackendReqFd: SetBackendReqFd(m); return null;
            case VhostUserRequest.GetStatus: Require(r, ProtocolFeatures.Status, "STATUS"); return U64(CurrentStatus());
            case VhostUserRequest.SetStatus: SetStatus(U64(r, p)); return null;
            case VhostUserRequest.GetMaxMemSlots: Require(r, ProtocolFeatures.ConfigureMemSlots, "CONFIGURE_MEM_SLOTS"); return U64(MemoryTable.MaxSlots);
            case VhostUserRequest.AddMemReg: AddMemReg(m); return null;
            case VhostUserRequest.RemMemReg: RemMemReg(MessageCodec.ReadPayload<SingleMemRegion>(r, p).Region); return null;
            case VhostUserRequest.SetLogBase: return SetLogBase(m);
            case VhostUserRequest.SetLogFd: SetLogFd(m); return null;
            case VhostUserRequest.SendRarp: SendRarp(U64(r, p)); return null;
            case VhostUserRequest.NetSetMtu: SetMtu(U64(r, p)); return null;
            case VhostUserRequest.ResetDevice: Require(r, ProtocolFeatures.ResetDevice, "RESET_DEVICE"); ResetDevice(r); return null;
            case VhostUserRequest.GetInflightFd: return GetInflightFd();
            case VhostUserRequest.SetInflightFd:
                throw new VhostProtocolException(r, "protocol features", _ackedProtocol,
                    "INFLIGHT_SHMFD is not offered: a net device completes every chain it takes within one round, and a lost or repeated frame is legal for a network") { Fatal = false };
            default:
                throw new VhostProtocolException(r, "request", (ulong)r, "not supported by this back-end (its protocol feature is not offered)");
        }
    }

    private static byte[] U64(ulong v) => BitConverter.GetBytes(v);

    private static ulong U64(VhostUserRequest r, ReadOnlySpan<byte> p) => MessageCodec.ReadPayload<VhostUserU64>(r, p).Value;

    private void Require(VhostUserRequest r, ulong protocolBit, string name)
    {
        if (!HasProtocol(protocolBit))
        {
            throw new VhostProtocolException(r, "protocol features", _ackedProtocol, $"needs {name} to be negotiated first");
        }
    }

    private Vring Ring(VhostUserRequest r, uint index)
    {
        if (index >= (uint)_maxRings)
        {
            throw new VhostProtocolException(r, "index", index, $"rings are 0..{_maxRings - 1} ({_device.MaxQueuePairs} queue pairs)");
        }
        return _vrings[index];
    }

    private bool AnyStarted()
    {
        for (int i = 0; i < _maxRings; i++)
        {
            if (_vrings[i].Started)
            {
                return true;
            }
        }
        return false;
    }

    // ---- features --------------------------------------------------------------------------

    private void SetFeatures(ulong features)
    {
        const VhostUserRequest r = VhostUserRequest.SetFeatures;
        ulong offered = _device.OfferedFeatures;
        if ((features & ~offered) != 0)
        {
            throw new VhostProtocolException(r, "features", features,
                $"must be a subset of those offered (0x{offered:x}); extra bits 0x{features & ~offered:x}");
        }
        if (_featuresSet && AnyStarted() && ((features ^ _ackedFeatures) & ~VirtioFeatures.LogAll) != 0)
        {
            throw new VhostProtocolException(r, "features", features,
                $"only LOG_ALL may change while rings run (acked 0x{_ackedFeatures:x})");
        }
        bool changed = !_featuresSet || features != _ackedFeatures;
        _ackedFeatures = features;
        _featuresSet = true;
        if ((features & VirtioFeatures.ProtocolFeatures) == 0)
        {
            // Without PROTOCOL_FEATURES there is no SET_VRING_ENABLE: rings are enabled now.
            for (int i = 0; i < _maxRings; i++)
            {
                _vrings[i].Enabled = true;
            }
        }
        if (changed && AnyStarted())
        {
            Reconfigure(null);
        }
        Log.Info($"features acked: {VirtioFeatures.Describe(features)}");
    }

    private void SetProtocolFeatures(ulong features)
    {
        ulong offered = _device.OfferedProtocolFeatures;
        if ((features & ~offered) != 0)
        {
            throw new VhostProtocolException(VhostUserRequest.SetProtocolFeatures, "features", features,
                $"must be a subset of those offered (0x{offered:x}); extra bits 0x{features & ~offered:x}");
        }
        _ackedProtocol = features;
        Log.Info($"protocol features acked: {ProtocolFeatures.Describe(features)}");
    }

    private ulong CurrentStatus() => (ulong)(_status | (_device.NeedsReset ? (byte)VirtioStatus.DeviceNeedsReset : (byte)0));

    private void SetStatus(ulong status)
    {
        Require(VhostUserRequest.SetStatus, ProtocolFeatures.Status, "STATUS");
        if (status > 0xFF)
        {
            throw new VhostProtocolException(VhostUserRequest.SetStatus, "status", status, "is one byte");
        }
        _status = (byte)status;
        if (status == 0)
        {
            _device.ClearNeedsReset();
        }
    }

    private void SetBackendReqFd(ReceivedMessage m)
    {
        Require(VhostUserRequest.SetBackendReqFd, ProtocolFeatures.BackendReq, "BACKEND_REQ");
        // Kept for the session, never written: a net device needs no back-end requests (§3).
        LibC.CloseQuietly(_backendReqFd);
        _backendReqFd = m.TakeFd(0);
    }

    // ---- memory ----------------------------------------------------------------------------

    private void SetMemTable(ReceivedMessage m)
    {
        const VhostUserRequest r = VhostUserRequest.SetMemTable;
        ReadOnlySpan<byte> p = m.PayloadSpan;
        MemoryTableHeader th = MemoryMarshal.Read<MemoryTableHeader>(p);
        if (th.NumRegions == 0 || th.NumRegions > MemoryTableHeader.MaxRegions)
        {
            throw new VhostProtocolException(r, "nregions", th.NumRegions, $"must be 1..{MemoryTableHeader.MaxRegions}");
        }
        if (p.Length != MemoryTableHeader.Size + 32 * (int)th.NumRegions)
        {
            throw new VhostProtocolException(r, "size", (ulong)p.Length, $"must be 8 + 32 * nregions = {8 + 32 * th.NumRegions}");
        }
        if (m.Fds.Count != th.NumRegions)
        {
            throw new VhostProtocolException(r, "fds", (ulong)m.Fds.Count, $"must equal nregions ({th.NumRegions})");
        }
        var regions = MemoryMarshal.Cast<byte, MemoryRegionDesc>(p[MemoryTableHeader.Size..]).ToArray();
        for (int i = 0; i < regions.Length; i++)
        {
            MessageCodec.ValidateRegion(r, regions[i], i);
        }
        if (_memory.IsIdentical(regions, m.Fds))
        {
            Log.Debug("SET_MEM_TABLE: identical to the current table; nothing to remap");
            return; // the message's fds are closed by the caller
        }
        var fds = new List<int>(m.Fds.Count);
        for (int i = 0; i < m.Fds.Count; i++)
        {
            fds.Add(m.TakeFd(i));
        }
        Reconfigure(() =>
        {
            _memory.Replace(r, regions, fds);
            RetranslateStartedRings(r);
        });
        MemoryChanges++;
        Log.Info($"memory table: {regions.Length} region(s), {regions.Sum(x => (double)x.MemorySize) / (1 << 20):F0} MiB");
    }

    /// <summary>ADD_MEM_REG (CONFIGURE_MEM_SLOTS): maps one more region, then, with the workers
    /// paused, publishes the new table and re-points the rings. A region identical to one
    /// already mapped (same layout, same file) is acknowledged and not mapped twice.</summary>
    private void AddMemReg(ReceivedMessage m)
    {
        const VhostUserRequest r = VhostUserRequest.AddMemReg;
        Require(r, ProtocolFeatures.ConfigureMemSlots, "CONFIGURE_MEM_SLOTS");
        MemoryRegionDesc region = MessageCodec.ReadPayload<SingleMemRegion>(r, m.PayloadSpan).Region;
        MessageCodec.ValidateRegion(r, region, -1);
        if (_memory.Contains(region, m.Fds[0]))
        {
            Log.Debug($"ADD_MEM_REG: {region} is already mapped");
            return; // the fd is closed by the caller
        }
        int fd = m.TakeFd(0);
        MappedRegion mapped = _memory.MapForAdd(region, fd); // maps outside the pause
        Reconfigure(() =>
        {
            _memory.Add(mapped);
            RetranslateStartedRings(r);
        });
        MemoryChanges++;
        Log.Debug($"ADD_MEM_REG: {region}; {_memory.Count} region(s)");
    }

    /// <summary>REM_MEM_REG: with the workers paused, drops the region matching guest address,
    /// user address and size (the mmap offset is ignored, as the spec says) and re-points the
    /// rings; the region is unmapped once the workers run on the new table.</summary>
    private void RemMemReg(in MemoryRegionDesc region)
    {
        const VhostUserRequest r = VhostUserRequest.RemMemReg;
        Require(r, ProtocolFeatures.ConfigureMemSlots, "CONFIGURE_MEM_SLOTS");
        if (!_memory.Has(region))
        {
            throw new VhostProtocolException(r, "region", region.ToString(), "no such region is mapped") { Fatal = false };
        }
        MemoryRegionDesc d = region;
        Reconfigure(() =>
        {
            _memory.Remove(d);
            RetranslateStartedRings(r);
        });
        MemoryChanges++;
        Log.Debug($"REM_MEM_REG: {region}; {_memory.Count} region(s)");
    }

    // ---- dirty log (LOG_SHMFD) ----------------------------------------------------------------

    /// <summary>
    /// SET_LOG_BASE: maps the dirty bitmap (reference §6.4) and hands it to the workers; the
    /// previous log stays mapped until they run with the new one. Replies with a u64 0 (as
    /// libvhost-user; QEMU checks only the request code).
    /// </summary>
    private byte[] SetLogBase(ReceivedMessage m)
    {
        const VhostUserRequest r = VhostUserRequest.SetLogBase;
        Require(r, ProtocolFeatures.LogShmfd, "LOG_SHMFD");
        LogDesc d = MessageCodec.ReadPayload<LogDesc>(r, m.PayloadSpan);
        DirtyLog log = DirtyLog.Map(d, m.TakeFd(0));
        DirtyLog? old = _log;
        if (AnyStarted())
        {
            Reconfigure(() => _log = log);
        }
        else
        {
            _log = log;
        }
        old?.Dispose();
        Log.Info($"dirty log: {d.MmapSize} bytes (pages up to GPA 0x{d.MmapSize * 8 * 4096:x}), logging {(VirtioFeatures.Has(_ackedFeatures, VirtioFeatures.LogAll) ? "on" : "off until LOG_ALL")}");
        return U64(0);
    }

    /// <summary>SET_LOG_FD: an eventfd the front-end may want poked after logging. Kept for the
    /// session; never poked (QEMU does not send it; its log sync reads the bitmap).</summary>
    private void SetLogFd(ReceivedMessage m)
    {
        Require(VhostUserRequest.SetLogFd, ProtocolFeatures.LogShmfd, "LOG_SHMFD");
        if (EventFd.AdoptForeign(m.Fds[0]) is { } why)
        {
            throw new VhostProtocolException(VhostUserRequest.SetLogFd, "fd", $"{m.Fds[0]}", why) { Fatal = false };
        }
        LibC.CloseQuietly(_logFd);
        _logFd = m.TakeFd(0);
    }

    // ---- virtio-net specifics -------------------------------------------------------------------

    /// <summary>SEND_RARP: the next resume with pair 0 running hands the MAC to the data path,
    /// which injects one RARP frame on pair 0's RX queue as soon as a buffer is posted. If pair
    /// 0 is not running yet, the MAC waits here for the resume that starts it.</summary>
    private void SendRarp(ulong payload)
    {
        Require(VhostUserRequest.SendRarp, ProtocolFeatures.Rarp, "RARP");
        var mac = new byte[6];
        BitConverter.TryWriteBytes(mac.AsSpan(), (uint)payload);
        BitConverter.TryWriteBytes(mac.AsSpan(4), (ushort)(payload >> 32));
        _pendingRarp = mac;
        Reconfigure(null);
        Log.Info($"SEND_RARP: {Convert.ToHexString(mac)} queued on pair 0");
    }

    /// <summary>NET_SET_MTU: any Ethernet MTU from 68 (IPv4 minimum) to 65535 is accepted and
    /// kept; the loopback never needs to refuse a frame for it.</summary>
    private void SetMtu(ulong mtu)
    {
        const VhostUserRequest r = VhostUserRequest.NetSetMtu;
        Require(r, ProtocolFeatures.NetMtu, "NET_MTU");
        if (mtu < 68 || mtu > 65535)
        {
            throw new VhostProtocolException(r, "mtu", mtu, "must be 68..65535") { Fatal = false };
        }
        _mtu = (uint)mtu;
        Log.Info($"MTU {mtu}");
    }

    /// <summary>GET_INFLIGHT_FD without INFLIGHT_SHMFD (never offered, see README.md, "Features"):
    /// answered with mmap_size 0 and no fd, which QEMU reads as "no inflight tracking".</summary>
    private static byte[] GetInflightFd()
    {
        Log.Warn("GET_INFLIGHT_FD: INFLIGHT_SHMFD is not offered; replying with no inflight area");
        return new byte[System.Runtime.CompilerServices.Unsafe.SizeOf<InflightDesc>()];
    }

    /// <summary>After a memory change, points every running ring at its new mapping; a ring
    /// whose memory is gone is marked broken. A ring that was waiting for memory (kick before
    /// the table) starts if its addresses are now mapped.</summary>
    private void RetranslateStartedRings(VhostUserRequest r)
    {
        for (int i = 0; i < _maxRings; i++)
        {
            Vring v = _vrings[i];
            if (!v.Started)
            {
                if (v.KickReceived && v.AddrSet && v.Num != 0 && CheckRing(v.Addr, v.Num) == null)
                {
                    StartRingIfReady(v, r);
                }
                continue;
            }
            RingAddressError? e = v.IsPacked
                ? PackedRingAddresses.RetranslatePacked(_memory.Current, v.Addr, v.Num, ref v.Packed)
                : RingAddresses.RetranslateSplit(_memory.Current, v.Addr, v.Num, ref v.Split);
            if (e is { } err)
            {
                if (v.IsPacked)
                {
                    v.Packed.Fault = RingFault.RingUnmapped;
                }
                else
                {
                    v.Split.Fault = RingFault.RingUnmapped;
                }
                // As a data-plane fault: counted, the err fd signalled, DEVICE_NEEDS_RESET.
                v.Counters.Faults++;
                v.Counters.Rejected++;
                if (v.ErrFd >= 0)
                {
                    EventFd.Signal(v.ErrFd);
                }
                _device.RaiseNeedsReset();
                Log.Error($"{RequestNames.Of(r)}: vring {i} {err.Field}=0x{err.Value:x} {err.Limit} in the new table; ring marked broken");
            }
        }
    }

    // ---- rings -----------------------------------------------------------------------------

    private void SetVringNum(VringState s)
    {
        const VhostUserRequest r = VhostUserRequest.SetVringNum;
        Vring v = Ring(r, s.Index);
        RequireStopped(r, v);
        if (PackedRings ? !PackedLayout.IsValidSize(s.Num) : !SplitLayout.IsValidSize(s.Num))
        {
            throw new VhostProtocolException(r, "num", s.Num, PackedRings
                ? $"packed ring size must be 1..{PackedLayout.MaxQueueSize}"
                : $"split ring size must be a power of two in 1..{SplitLayout.MaxQueueSize}");
        }
        v.Num = s.Num;
    }

    private void SetVringAddr(VringAddr a)
    {
        const VhostUserRequest r = VhostUserRequest.SetVringAddr;
        Vring v = Ring(r, a.Index);
        if ((PackedRings ? PackedRingAddresses.CheckSyntax(a) : RingAddresses.CheckSyntax(a)) is { } bad)
        {
            throw new VhostProtocolException(r, bad.Field, bad.Value, bad.Limit);
        }
        if (v.Started)
        {
            // While running only the log flag may change (migration, reference §5).
            if (a.DescUserAddr != v.Addr.DescUserAddr || a.AvailUserAddr != v.Addr.AvailUserAddr || a.UsedUserAddr != v.Addr.UsedUserAddr)
            {
                throw new VhostProtocolException(r, "addresses", a.DescUserAddr, "ring is running: stop it with GET_VRING_BASE first");
            }
            Reconfigure(() =>
            {
                v.Addr = a;
                v.UsedLogGpa = a.LogGuestAddr;
            });
            return;
        }
        if (v.Num != 0 && _memory.Count > 0 && CheckRing(a, v.Num) is { } e)
        {
            throw new VhostProtocolException(r, e.Field, e.Value, e.Limit);
        }
        v.Addr = a;
        v.AddrSet = true;
        v.UsedLogGpa = a.LogGuestAddr;
    }

    private void SetVringBase(VringState s)
    {
        const VhostUserRequest r = VhostUserRequest.SetVringBase;
        Vring v = Ring(r, s.Index);
        RequireStopped(r, v);
        if (PackedRings)
        {
            // Bits 0-14 avail index, 15 avail wrap, 16-30 used index, 31 used wrap.
            uint size = v.Num != 0 ? v.Num : PackedLayout.MaxQueueSize;
            if (PackedRingAddresses.CheckBase(s.Num, size) is { } bad)
            {
                throw new VhostProtocolException(r, bad.Field, bad.Value, bad.Limit);
            }
        }
        else if (s.Num > 0xFFFF)
        {
            throw new VhostProtocolException(r, "num", s.Num, "split ring index is 16 bits");
        }
        v.Base = s.Num;
    }

    /// <summary>Stops the ring after everything taken is completed (the worker pauses at a
    /// round boundary, so nothing is in flight), replies with the next avail index.</summary>
    private byte[] GetVringBase(VringState s)
    {
        const VhostUserRequest r = VhostUserRequest.GetVringBase;
        Vring v = Ring(r, s.Index);
        uint next = 0;
        Reconfigure(() =>
        {
            next = v.NextAvailForBase;
            if (v.Started)
            {
                v.Base = next;
                v.Started = false;
            }
            // As DPDK and rust-vmm: the ring's kick and call fds go with the stop.
            LibC.CloseQuietly(v.KickFd);
            v.KickFd = -1;
            v.KickReceived = false;
            LibC.CloseQuietly(v.CallFd);
            v.CallFd = -1;
        });
        var reply = new byte[8];
        MemoryMarshal.Write(reply, new VringState(s.Index, next));
        return reply;
    }

    private void SetVringFd(VhostUserRequest r, ulong value, ReceivedMessage m)
    {
        if ((value & ~(VringFile.IndexMask | VringFile.NoFdFlag)) != 0)
        {
            throw new VhostProtocolException(r, "u64", value, "only bits 0-7 (index) and 8 (NOFD) are defined");
        }
        Vring v = Ring(r, (uint)(value & VringFile.IndexMask));
        if ((value & VringFile.NoFdFlag) == 0 && EventFd.AdoptForeign(m.Fds[0]) is { } why)
        {
            throw new VhostProtocolException(r, "fd", $"{m.Fds[0]} (vring {v.Index})", why) { Fatal = false };
        }
        int fd = (value & VringFile.NoFdFlag) != 0 ? -1 : m.TakeFd(0);
        switch (r)
        {
            case VhostUserRequest.SetVringKick:
                Reconfigure(() =>
                {
                    LibC.CloseQuietly(v.KickFd);
                    v.KickFd = fd;
                    v.KickReceived = true;
                    StartRingIfReady(v);
                });
                break;
            case VhostUserRequest.SetVringCall:
                // May arrive while the ring runs: swap under pause, close the old one after.
                int oldCall = v.CallFd;
                if (v.Started)
                {
                    Reconfigure(() => v.CallFd = fd);
                }
                else
                {
                    v.CallFd = fd;
                }
                LibC.CloseQuietly(oldCall);
                break;
            default:
                int oldErr = v.ErrFd;
                if (v.Started)
                {
                    Reconfigure(() => v.ErrFd = fd);
                }
                else
                {
                    v.ErrFd = fd;
                }
                LibC.CloseQuietly(oldErr);
                break;
        }
    }

    private void SetVringEnable(VringState s)
    {
        const VhostUserRequest r = VhostUserRequest.SetVringEnable;
        Vring v = Ring(r, s.Index);
        if (s.Num > 1)
        {
            throw new VhostProtocolException(r, "num", s.Num, "must be 0 (disable) or 1 (enable)");
        }
        bool enable = s.Num == 1;
        if (v.Enabled == enable)
        {
            return;
        }
        // Recorded whether or not the ring is configured yet: QEMU enables before ring setup
        // and never again (reference §10.7).
        if (v.Started)
        {
            Reconfigure(() => v.Enabled = enable);
        }
        else
        {
            v.Enabled = enable;
        }
    }

    /// <summary>Are a ring's three parts inside the current memory (split or packed layout)?</summary>
    private RingAddressError? CheckRing(in VringAddr a, uint num) => PackedRings
        ? PackedRingAddresses.CheckPacked(_memory.Current, a, num)
        : RingAddresses.CheckSplit(_memory.Current, a, num);

    private static void RequireStopped(VhostUserRequest r, Vring v)
    {
        if (v.Started)
        {
            throw new VhostProtocolException(r, "index", (ulong)v.Index, "ring is running: stop it with GET_VRING_BASE first");
        }
    }

    /// <summary>
    /// Starts a ring once it has a kick (or NOFD), a size, addresses and memory: translates the
    /// addresses and attaches. Addresses outside memory are a protocol error of request
    /// <paramref name="r"/>, and so are a size or an alignment that suit the other layout (the
    /// ring was configured before SET_FEATURES changed RING_PACKED).
    /// </summary>
    private void StartRingIfReady(Vring v, VhostUserRequest r = VhostUserRequest.SetVringKick)
    {
        if (v.Started || !v.KickReceived || !v.AddrSet || v.Num == 0 || _memory.Count == 0)
        {
            return;
        }
        bool eventIdx = VirtioFeatures.Has(_ackedFeatures, VirtioFeatures.RingEventIdx);
        bool indirect = VirtioFeatures.Has(_ackedFeatures, VirtioFeatures.RingIndirectDesc);
        bool packed = PackedRings;
        bool inOrder = VirtioFeatures.Has(_ackedFeatures, VirtioFeatures.InOrder);
        bool resynced = false;
        RingAddressError? e = (packed ? PackedRingAddresses.CheckSyntax(v.Addr) : RingAddresses.CheckSyntax(v.Addr)) ?? (packed
            ? PackedRingAddresses.AttachPacked(_memory.Current, v.Addr, v.Num, v.Base, eventIdx, indirect, ref v.Packed, out resynced)
            : RingAddresses.AttachSplit(_memory.Current, v.Addr, v.Num, (ushort)v.Base, eventIdx, indirect, ref v.Split, out resynced, inOrder));
        if (e is { } err)
        {
            throw new VhostProtocolException(r, err.Field, err.Value, $"{err.Limit} (vring {v.Index})");
        }
        v.IsPacked = packed;
        v.ResyncedAtStart = resynced;
        if (packed)
        {
            // Where the device writes in a packed ring, for the dirty log.
            _memory.Current.TryFvaToGpa(v.Addr.DescUserAddr, out v.PackedDescGpa);
            _memory.Current.TryFvaToGpa(v.Addr.UsedUserAddr, out v.PackedDeviceEventGpa);
        }
        if (resynced)
        {
            Log.Warn($"vring {v.Index}: base 0x{v.Base:x} disagrees with the used position in guest memory; resynced to it (in-flight buffers will be re-offered)");
        }
        v.Started = true;
        Log.Info($"vring {v.Index} started: {(packed ? "packed" : "split")}, size {v.Num}, base 0x{v.NextAvailForBase:x}, event_idx={eventIdx}, in_order={inOrder}, enabled={v.Enabled}");
    }

    // ---- lifecycle --------------------------------------------------------------------------

    /// <summary>Pauses the device, applies <paramref name="change"/>, resumes with the new view.
    /// The device resumes even if the change throws, with whatever state is consistent.</summary>
    private void Reconfigure(Action? change)
    {
        _device.Pause();
        try
        {
            change?.Invoke();
        }
        finally
        {
            _device.Resume(BuildView());
            _memory.ReleaseRetired();
            if (_pendingRarp != null && _vrings[0].IsActive && _vrings[1].IsActive)
            {
                _pendingRarp = null; // handed over: the worker keeps it until it is sent
            }
        }
    }

    private DeviceView BuildView() => new()
    {
        Memory = _memory.Current,
        Vrings = _vrings,
        AckedFeatures = _ackedFeatures,
        // Device writes are logged while LOG_ALL is acked and a log is mapped (reference §6.4).
        Log = VirtioFeatures.Has(_ackedFeatures, VirtioFeatures.LogAll) ? _log : null,
        RarpMac = _pendingRarp,
        Mtu = _mtu,
    };

    /// <summary>RESET_OWNER / RESET_DEVICE: stop and disable every ring, forget features,
    /// status, MTU and the dirty log; the connection, the ownership, the protocol features and
    /// the memory table stay (as rust-vmm), ready for the front-end to start the device again.</summary>
    private void ResetDevice(VhostUserRequest r)
    {
        Reconfigure(() =>
        {
            for (int i = 0; i < _vrings.Length; i++)
            {
                _vrings[i].ResetConfig();
            }
            _ackedFeatures = 0;
        });
        _featuresSet = false;
        _status = 0;
        _mtu = 0;
        _pendingRarp = null;
        _log?.Dispose();
        _log = null;
        LibC.CloseQuietly(_logFd);
        _logFd = -1;
        _device.ClearNeedsReset();
        Log.Info($"{RequestNames.Of(r)}: device reset");
    }

    /// <summary>Ends the session: stops the data plane before unmapping, closes every fd the
    /// front-end gave us, forgets all negotiated state (reference §10.5).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _device.Pause();
        for (int i = 0; i < _vrings.Length; i++)
        {
            _vrings[i].ResetConfig();
        }
        _memory.Clear();
        _device.Resume(DeviceView.Idle);
        _memory.Dispose();
        _log?.Dispose();
        _log = null;
        LibC.CloseQuietly(_logFd);
        _logFd = -1;
        LibC.CloseQuietly(_backendReqFd);
        _backendReqFd = -1;
        _device.ClearNeedsReset();
    }
}

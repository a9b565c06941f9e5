using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;
using R = PerfLab.Vhost.Protocol.VhostUserRequest;

namespace PerfLab.Fuzz;

/// <summary>Builds <see cref="HandlerTarget"/> inputs: messages with fds, guest writes, rounds.</summary>
public sealed class HandlerInput
{
    public const byte Memfd64K = 16 << 2;   // fd kinds (FuzzFds.Make)
    public const byte Memfd4K = 1 << 2;
    public const byte EventFdKind = 1;
    public const byte PipeKind = 2;
    public const byte SameMemfd = 3;          // a second fd for memory file 0

    private readonly FuzzOutput _o = new();

    public HandlerInput(byte config) => _o.U8(config);

    public HandlerInput Msg(R request, VhostUserFlags flags, ReadOnlySpan<byte> payload, params byte[] fdKinds)
    {
        _o.U8((byte)request).U8((byte)flags).U8(fdKinds.Length).U16(payload.Length).Raw(fdKinds).Raw(payload);
        return this;
    }

    public HandlerInput Msg(R request, params byte[] fdKinds) => Msg(request, VhostUserFlags.Version1, [], fdKinds);

    public HandlerInput Msg<T>(R request, T payload, params byte[] fdKinds) where T : unmanaged =>
        Msg(request, VhostUserFlags.Version1, Bytes(payload), fdKinds);

    public HandlerInput Ack<T>(R request, T payload, params byte[] fdKinds) where T : unmanaged =>
        Msg(request, VhostUserFlags.Version1 | VhostUserFlags.NeedReply, Bytes(payload), fdKinds);

    public HandlerInput U64(R request, ulong v, params byte[] fdKinds) => Msg(request, new VhostUserU64(v), fdKinds);

    public HandlerInput State(R request, uint index, uint num) => Msg(request, new VringState(index, num));

    public HandlerInput GuestWrite(int memfd, uint offset, ReadOnlySpan<byte> bytes)
    {
        for (int done = 0; done < bytes.Length; done += 255)
        {
            ReadOnlySpan<byte> chunk = bytes.Slice(done, Math.Min(255, bytes.Length - done));
            _o.U8(HandlerTarget.OpGuestWrite).U8(memfd).U32(offset + (uint)done).U8(chunk.Length).Raw(chunk);
        }
        return this;
    }

    public HandlerInput Rounds(int n)
    {
        _o.U8(HandlerTarget.OpRun).U8(n - 1);
        return this;
    }

    public HandlerInput Reconnect()
    {
        _o.U8(HandlerTarget.OpReconnect);
        return this;
    }

    public byte[] ToArray() => _o.ToArray();

    public static byte[] Bytes<T>(T v) where T : unmanaged
    {
        var b = new byte[Unsafe.SizeOf<T>()];
        MemoryMarshal.Write(b, in v);
        return b;
    }

    public static byte[] MemTable(params MemoryRegionDesc[] regions)
    {
        var b = new byte[MemoryTableHeader.Size + 32 * regions.Length];
        MemoryMarshal.Write(b, new MemoryTableHeader { NumRegions = (uint)regions.Length });
        MemoryMarshal.Cast<MemoryRegionDesc, byte>(regions).CopyTo(b.AsSpan(MemoryTableHeader.Size));
        return b;
    }
}

/// <summary>
/// The handler seeds: the sessions QEMU 7.2 and DPDK 22.11 really run
/// (docs/protocol.md#message-orders) with traffic, packed rings, memory slots, migration, reset,
/// multiqueue, and a few refusals. Guest RAM is one 64 KiB memory file at GPA 0; ring i of a pair
/// sits at 0x1000 * i.
/// </summary>
public static class HandlerSeeds
{
    private const ulong Uaddr = 0x7f00_0000_0000;
    private const ulong Ram = 64 * 1024;
    private const ushort Size = 16;

    private static readonly MemoryRegionDesc s_region = new(0, Ram, Uaddr, 0);

    private const ulong Base = VirtioFeatures.Version1 | VirtioFeatures.ProtocolFeatures;

    private static int RingOffset(int ring) => 0x1000 * ring;

    private static VringAddr Addr(int ring, bool packed, bool log = false)
    {
        ulong b = Uaddr + (ulong)RingOffset(ring);
        return new VringAddr
        {
            Index = (uint)ring,
            DescUserAddr = b,
            AvailUserAddr = b + (packed ? 0x100UL : 0x100UL),
            UsedUserAddr = b + (packed ? 0x104UL : 0x200UL),
            LogGuestAddr = (ulong)RingOffset(ring) + (packed ? 0UL : 0x200UL),
            Flags = log ? VringAddr.FlagLog : 0,
        };
    }

    /// <summary>Rings 2p (RX) and 2p+1 (TX): NUM, BASE, ADDR, KICK, CALL (QEMU's order).</summary>
    private static HandlerInput Rings(this HandlerInput s, int pair, bool packed, bool log = false)
    {
        for (int ring = 2 * pair; ring <= 2 * pair + 1; ring++)
        {
            s.State(R.SetVringNum, (uint)ring, Size)
             .State(R.SetVringBase, (uint)ring, packed ? PackedBase.Fresh : 0)
             .Msg(R.SetVringAddr, Addr(ring, packed, log))
             .U64(R.SetVringKick, (ulong)ring, HandlerInput.EventFdKind)
             .U64(R.SetVringCall, (ulong)ring, HandlerInput.EventFdKind);
        }
        return s;
    }

    /// <summary>The guest posts one RX buffer and one TX frame on a pair (guest RAM starts at
    /// GPA <paramref name="gpa"/>), then the worker runs.</summary>
    private static HandlerInput Traffic(this HandlerInput s, int pair, bool packed, ulong gpa = 0)
    {
        int rx = RingOffset(2 * pair), tx = RingOffset(2 * pair + 1);
        var g = new GuestImage(0);
        if (packed)
        {
            g.Packed(rx, 0, gpa + 0x8000, 2048, 0, PackedDesc.FlagWrite);
            g.Packed(tx, 0, gpa + 0xC000, 12 + 60, 0, 0);
        }
        else
        {
            g.Desc(rx, 0, gpa + 0x8000, 2048, VirtqDesc.FlagWrite).Avail(rx + 0x100, Size, 0, 0);
            g.Desc(tx, 0, gpa + 0xC000, 12 + 60, 0).Avail(tx + 0x100, Size, 0, 0);
        }
        g.Frame(0xC000, 60, 0xAB);
        foreach (int ring in new[] { rx, tx })
        {
            s.GuestWrite(0, (uint)ring, g.From(ring)[..16]); // descriptor 0
            if (!packed)
            {
                s.GuestWrite(0, (uint)ring + 0x100, g.From(ring + 0x100)[..6]); // avail: flags, idx, ring[0]
            }
        }
        s.GuestWrite(0, 0xC000, g.From(0xC000));
        return s.Rounds(2);
    }

    private static HandlerInput Enable(this HandlerInput s, int pair) =>
        s.State(R.SetVringEnable, (uint)(2 * pair), 1).State(R.SetVringEnable, (uint)(2 * pair + 1), 1);

    private static HandlerInput Stop(this HandlerInput s, int pair) =>
        s.State(R.GetVringBase, (uint)(2 * pair), 0).State(R.GetVringBase, (uint)(2 * pair + 1), 0);

    public static IEnumerable<(string Name, byte[] Input)> All()
    {
        ulong proto = ProtocolFeatures.Mq | ProtocolFeatures.ReplyAck | ProtocolFeatures.BackendReq
            | ProtocolFeatures.Status | ProtocolFeatures.Rarp | ProtocolFeatures.NetMtu;
        ulong features = Base | VirtioFeatures.RingEventIdx | VirtioFeatures.RingIndirectDesc | VirtioFeatures.NetMrgRxbuf;
        const VhostUserFlags ack = VhostUserFlags.Version1 | VhostUserFlags.NeedReply;

        // QEMU 7.2, one pair: init, device start, traffic, stop
        // (docs/protocol.md#what-qemu-72-sends).
        yield return ("qemu", new HandlerInput(0)
            .Msg(R.GetFeatures).Msg(R.GetProtocolFeatures).U64(R.SetProtocolFeatures, proto).Msg(R.GetQueueNum)
            .Msg(R.SetBackendReqFd, ack, [], HandlerInput.EventFdKind).Msg(R.SetOwner).Msg(R.GetFeatures)
            .U64(R.SetVringCall, 0, HandlerInput.EventFdKind).U64(R.SetVringErr, 0, HandlerInput.EventFdKind)
            .U64(R.SetVringCall, 1, HandlerInput.EventFdKind).U64(R.SetVringErr, 1, HandlerInput.EventFdKind)
            .State(R.SetVringEnable, 0, 1).State(R.SetVringEnable, 1, 1)
            .U64(R.SetFeatures, features).Msg(R.GetStatus).U64(R.SetStatus, 0xb)
            .Ack(R.SetMemTable, MemTableBytes(), HandlerInput.Memfd64K)
            .Rings(0, packed: false).Msg(R.GetStatus).U64(R.SetStatus, 0xf)
            .Traffic(0, packed: false)
            .U64(R.SetStatus, 0).Stop(0).State(R.SetVringEnable, 0, 0).State(R.SetVringEnable, 1, 0)
            .ToArray());

        // DPDK 22.11 virtio-user (docs/protocol.md#what-dpdk-2211-virtio-user-sends): owner first,
        // call fds before memory, NEED_REPLY on status and memory, enable after the rings, no
        // EVENT_IDX.
        yield return ("dpdk", new HandlerInput(0)
            .Msg(R.SetOwner).Msg(R.GetFeatures).Msg(R.GetProtocolFeatures)
            .U64(R.SetProtocolFeatures, ProtocolFeatures.Mq | ProtocolFeatures.ReplyAck | ProtocolFeatures.Status)
            .U64(R.SetVringCall, 0, HandlerInput.EventFdKind).U64(R.SetVringCall, 1, HandlerInput.EventFdKind)
            .U64(R.SetFeatures, Base | VirtioFeatures.NetMrgRxbuf)
            .Ack(R.SetStatus, new VhostUserU64(0xb)).Msg(R.GetStatus).Msg(R.GetStatus)
            .Ack(R.SetMemTable, MemTableBytes(new MemoryRegionDesc(Uaddr, Ram, Uaddr, 0)), HandlerInput.Memfd64K)
            .Rings(0, packed: false)
            .State(R.SetVringEnable, 0, 1).State(R.SetVringEnable, 1, 1).Ack(R.SetStatus, new VhostUserU64(0xf))
            .Traffic(0, packed: false, gpa: Uaddr)
            .State(R.SetVringEnable, 0, 0).State(R.SetVringEnable, 1, 0).Stop(0)
            .ToArray());

        // Packed rings (RING_PACKED), QEMU's order.
        yield return ("packed", new HandlerInput(0)
            .Msg(R.GetFeatures).Msg(R.GetProtocolFeatures).U64(R.SetProtocolFeatures, proto).Msg(R.SetOwner)
            .State(R.SetVringEnable, 0, 1).State(R.SetVringEnable, 1, 1)
            .U64(R.SetFeatures, Base | VirtioFeatures.RingPacked | VirtioFeatures.RingEventIdx | VirtioFeatures.RingIndirectDesc)
            .Ack(R.SetMemTable, MemTableBytes(), HandlerInput.Memfd64K)
            .Rings(0, packed: true).Traffic(0, packed: true).Stop(0)
            .ToArray());

        // CONFIGURE_MEM_SLOTS: regions added one by one (twice the same), then removed.
        var r1 = new MemoryRegionDesc(Ram, 4096, Uaddr + Ram, 0);
        yield return ("memslots", new HandlerInput(0)
            .Msg(R.GetFeatures).Msg(R.GetProtocolFeatures)
            .U64(R.SetProtocolFeatures, ProtocolFeatures.ConfigureMemSlots | ProtocolFeatures.ReplyAck).Msg(R.SetOwner)
            .Msg(R.GetMaxMemSlots).U64(R.SetFeatures, Base)
            .Msg(R.AddMemReg, new SingleMemRegion { Region = s_region }, HandlerInput.Memfd64K)
            .Msg(R.AddMemReg, new SingleMemRegion { Region = s_region }, HandlerInput.SameMemfd)
            .Ack(R.AddMemReg, new SingleMemRegion { Region = r1 }, HandlerInput.Memfd4K)
            .Rings(0, packed: false).Enable(0).Traffic(0, packed: false)
            .Ack(R.RemMemReg, new SingleMemRegion { Region = r1 })
            .Rounds(1)
            .Ack(R.RemMemReg, new SingleMemRegion { Region = s_region })
            .Rounds(1)
            .ToArray());

        // Migration: dirty log mapped, LOG_ALL acked, rings logging their used writes.
        yield return ("migration", new HandlerInput(0)
            .Msg(R.GetFeatures).Msg(R.GetProtocolFeatures)
            .U64(R.SetProtocolFeatures, ProtocolFeatures.LogShmfd | ProtocolFeatures.ReplyAck).Msg(R.SetOwner)
            .U64(R.SetFeatures, Base | VirtioFeatures.RingEventIdx)
            .Ack(R.SetMemTable, MemTableBytes(), HandlerInput.Memfd64K)
            .Rings(0, packed: false)
            .U64(R.SetFeatures, Base | VirtioFeatures.RingEventIdx | VirtioFeatures.LogAll)
            .Msg(R.SetLogBase, new LogDesc { MmapSize = 4096, MmapOffset = 0 }, HandlerInput.Memfd4K)
            .Msg(R.SetVringAddr, Addr(0, packed: false, log: true)).Msg(R.SetVringAddr, Addr(1, packed: false, log: true))
            .Msg(R.SetLogFd, HandlerInput.EventFdKind)
            .Enable(0).Traffic(0, packed: false)
            .Stop(0)
            .ToArray());

        // RARP after a migration, MTU, RESET_DEVICE and a second start; RESET_OWNER.
        yield return ("reset", new HandlerInput(0)
            .Msg(R.GetFeatures).Msg(R.GetProtocolFeatures)
            .U64(R.SetProtocolFeatures, proto | ProtocolFeatures.ResetDevice).Msg(R.SetOwner)
            .U64(R.SetFeatures, features | VirtioFeatures.NetMtu).Ack(R.NetSetMtu, new VhostUserU64(1500))
            .Ack(R.SetMemTable, MemTableBytes(), HandlerInput.Memfd64K)
            .Rings(0, packed: false).U64(R.SendRarp, 0x5634_1200_5452)
            .Enable(0).Traffic(0, packed: false)
            .Msg(R.ResetDevice)
            .U64(R.SetFeatures, features).Rings(0, packed: false).Enable(0).Traffic(0, packed: false)
            .Msg(R.ResetOwner)
            .ToArray());

        // Two queue pairs on one worker, the second enabled after DRIVER_OK (DPDK's MQ order).
        yield return ("multiqueue", new HandlerInput((1 << 2) | 0x10)
            .Msg(R.GetFeatures).Msg(R.GetProtocolFeatures).U64(R.SetProtocolFeatures, proto).Msg(R.GetQueueNum)
            .Msg(R.SetOwner).U64(R.SetFeatures, features | VirtioFeatures.NetMq)
            .Ack(R.SetMemTable, MemTableBytes(), HandlerInput.Memfd64K)
            .Rings(0, packed: false).Rings(1, packed: false)
            .State(R.SetVringEnable, 0, 1).State(R.SetVringEnable, 1, 1).Traffic(0, packed: false)
            .State(R.SetVringEnable, 2, 1).State(R.SetVringEnable, 3, 1).Traffic(1, packed: false)
            .Stop(0).Stop(1)
            .ToArray());

        // Refusals: each kind once, NEED_REPLY so the session goes on where it can; then a
        // fatal one, a reconnect, and a session in sink mode over a NOFD kick.
        yield return ("refusals", new HandlerInput(1)
            .Msg(R.GetFeatures).Msg(R.GetProtocolFeatures).U64(R.SetProtocolFeatures, proto).Msg(R.SetOwner)
            .Ack(R.NetSetMtu, new VhostUserU64(20))
            .Ack(R.SetVringNum, new VringState(0, 3))
            .Ack(R.SetVringEnable, new VringState(99, 1))
            .Ack(R.SetMemTable, MemTableBytes(new MemoryRegionDesc(0, Ram * 2, Uaddr, 0)), HandlerInput.Memfd64K)
            .Ack(R.SetMemTable, MemTableBytes(), HandlerInput.PipeKind)
            .Msg(R.SetVringKick, ack, HandlerInput.Bytes(new VhostUserU64(0)))
            .Reconnect()
            .Msg(R.GetFeatures).U64(R.SetFeatures, VirtioFeatures.Version1) // no SET_VRING_ENABLE: rings enabled
            .Ack(R.SetMemTable, MemTableBytes(), HandlerInput.Memfd64K)
            .State(R.SetVringNum, 1, Size).Msg(R.SetVringAddr, Addr(1, packed: false))
            .U64(R.SetVringKick, 1 | VringFile.NoFdFlag)
            .Traffic(0, packed: false)
            .Msg((R)200, VhostUserFlags.Version1, [1, 2, 3])
            .ToArray());
    }

    private static byte[] MemTableBytes(params MemoryRegionDesc[] regions) =>
        HandlerInput.MemTable(regions.Length == 0 ? [s_region] : regions);

    private static HandlerInput Ack(this HandlerInput s, R request, byte[] payload, params byte[] fds) =>
        s.Msg(request, VhostUserFlags.Version1 | VhostUserFlags.NeedReply, payload, fds);

    private static HandlerInput Msg(this HandlerInput s, R request, VhostUserFlags flags, byte[] payload, params byte[] fds) =>
        s.Msg(request, flags, payload.AsSpan(), fds);
}

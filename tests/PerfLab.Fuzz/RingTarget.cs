using PerfLab.Backend.Devices;
using PerfLab.Backend.Rings;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Net;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Fuzz;

/// <summary>
/// Target 2: the ring walkers and the data path over fuzz-controlled guest memory. The input
/// sets up a TX and an RX ring (split or packed, sizes, bases, where their parts lie), fills
/// guest RAM (<see cref="GuestArena"/>), and then drives the rings as the device does: take
/// chains (<c>TryPop</c>) and bursts (<c>TakeSingles</c>), return what was taken
/// (<c>PushUsed</c>, bursts), publish, re-enable and disable kicks, rewind untouched chains,
/// run the loopback or sink data path and the RARP injection, change the memory table between
/// rounds; while the guest rewrites its memory in between. The device-side calls keep the
/// device's contract (only what was taken is returned, in order with IN_ORDER, nothing in
/// flight across a memory change); everything in guest memory is hostile. Any exception, a
/// buffer pointer outside guest memory, or a SIGSEGV is a crash; the work per input is
/// bounded (at most <see cref="MaxOps"/> operations, each bounded by the ring size).
/// <code>
/// input  := cfg:u8 layout:u8 misc:u8 txBase:u16 rxBase:u16 txDesc:u16 txDriver:u16 txDevice:u16
///           rxDesc:u16 rxDriver:u16 rxDevice:u16 imageLen:u16 image[imageLen] op*
/// cfg    := bit 0 packed, 1 EVENT_IDX, 2 INDIRECT_DESC, 3 IN_ORDER (split), 4 MRG_RXBUF,
///           5 sink (else loopback; with misc bit 1, copy), 6 legacy 10-byte header, 7 dirty log on
/// layout := bits 0-1 memory layout, bits 2-4 TX size, bits 5-7 RX size (split 2^n, packed
///           <see cref="PackedSizes"/>)
/// misc   := bit 0 call fd, bit 1 no back-pressure (sink: copy mode), bits 2-7 batch - 1
/// rings  := desc at GPA 0x100000 + (v &lt;&lt; 4), driver (avail) and device (used) areas at
///           0x100000 + (v &lt;&lt; 2); front-end virtual addresses are GPA + 0x7f0000000000
/// op     := code:u8 args; code &amp; 15 is the operation, bit 4 the ring (0 TX, 1 RX)
/// </code>
/// </summary>
public static unsafe class RingTarget
{
    public const int MaxOps = 512;
    public const int MaxInFlight = 1024;

    public enum Op : byte
    {
        Pop = 0,          // TryPop
        Take = 1,         // TakeSingles, (code >> 5) + 1 buffers
        Push = 2,         // arg:u8 — which in-flight buffer (oldest with IN_ORDER), bits 6-7 how much written (RX)
        PushAll = 3,      // everything in flight, as one burst
        Publish = 4,      // bit 5: can call
        EnableKicks = 5,
        DisableKicks = 6,
        Mark = 7,
        Rewind = 8,       // to the mark, if nothing was returned since
        Available = 9,
        GuestWrite = 10,  // offset:u16 (x4) len:u8 (&amp; 31) bytes
        DataPath = 11,    // one worker round of the pair (loopback or sink)
        Rarp = 12,        // inject a RARP frame on RX
        Remap = 13,       // memory table change to layout (code >> 4) &amp; 3, between rounds
    }

    /// <summary>Packed ring sizes by selector (any size is legal; odd ones test the wrap).</summary>
    public static readonly ushort[] PackedSizes = [1, 2, 3, 4, 8, 16, 61, 256];

    private static readonly byte[] s_mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    private static State? s_state;

    /// <summary>What survives between inputs: the pair, its rings, scratch chains, a call eventfd.</summary>
    private sealed class State
    {
        public readonly QueuePair Pair = new(0);
        public readonly Vring Rx = new(0);
        public readonly Vring Tx = new(1);
        public readonly FaultFlag Fault = new();
        public readonly int CallFd = EventFd.Create();
        public DescChain Chain;
        public readonly BufRef[] Burst = new BufRef[8];

        public State()
        {
            Pair.EnsureScratch(256, 64, copySlots: true);
            Chain = DescChain.Allocate(256 + 16);
        }
    }

    private struct InFlight
    {
        public ushort Id;
        public ushort Slots;
        public uint Len;
    }

    /// <summary>Device-side bookkeeping of one ring: what was taken and not returned, the mark.</summary>
    private sealed class Side(bool deviceWrites, Vring vring)
    {
        public readonly bool DeviceWrites = deviceWrites;
        public readonly Vring Vring = vring;
        public readonly List<InFlight> Taken = [];
        public bool MarkValid;
        public uint Mark;
        public int MarkCount;

        public void Reset()
        {
            Taken.Clear();
            MarkValid = false;
        }
    }

    public static void Run(ReadOnlySpan<byte> data) => Run(data, null);

    /// <summary>Runs one input; <paramref name="attached"/> is called once the rings are set up
    /// (the double-fetch target starts its racing writer there).</summary>
    internal static void Run(ReadOnlySpan<byte> data, Action? attached)
    {
        State st = s_state ??= new State();
        GuestArena arena = GuestArena.Shared;
        var input = new FuzzInput(data);
        byte cfg = input.U8();
        byte layout = input.U8();
        byte misc = input.U8();
        ushort txBase = input.U16(), rxBase = input.U16();
        Span<ushort> parts = stackalloc ushort[6];
        for (int i = 0; i < 6; i++)
        {
            parts[i] = input.U16();
        }
        arena.Reset(input.Bytes(input.U16()));

        bool packed = (cfg & 1) != 0;
        bool eventIdx = (cfg & 2) != 0, indirect = (cfg & 4) != 0, inOrder = !packed && (cfg & 8) != 0;
        bool mergeable = (cfg & 0x10) != 0;
        ulong features = ((cfg & 0x40) != 0 ? 0 : VirtioFeatures.Version1) | (mergeable ? VirtioFeatures.NetMrgRxbuf : 0);
        DirtyLog? log = (cfg & 0x80) != 0 ? arena.Log : null;
        NetMode mode = (cfg & 0x20) == 0 ? NetMode.Loopback : (misc & 2) != 0 ? NetMode.Copy : NetMode.Sink;
        var dp = new DataPathConfig(mode, (misc & 2) == 0,
            (misc >> 2) + 1, (uint)VirtioNetHeader.SizeFor(features), mergeable, log);
        GuestMemory mem = arena.Layout(layout);

        int txSel = (layout >> 2) & 7, rxSel = layout >> 5;
        if (!Attach(st.Tx, mem, packed, packed ? PackedSizes[txSel] : 1u << txSel, txBase, parts[..3], eventIdx, indirect, inOrder, log)
            || !Attach(st.Rx, mem, packed, packed ? PackedSizes[rxSel] : 1u << rxSel, rxBase, parts[3..], eventIdx, indirect, inOrder, log))
        {
            Targets.Trace?.Invoke("ring addresses refused");
            return; // the handler refuses these addresses: nothing runs
        }
        QueuePair p = st.Pair;
        p.Tx = st.Tx;
        p.Rx = st.Rx;
        p.Dead = false;
        p.TxBlocked = false;
        p.PendingRarp = null;
        p.DeviceFault = st.Fault;
        st.Fault.Clear();
        int callFd = (misc & 1) != 0 ? st.CallFd : -1;
        st.Tx.CallFd = callFd;
        st.Rx.CallFd = callFd;
        var tx = new Side(false, st.Tx);
        var rx = new Side(true, st.Rx);
        attached?.Invoke();
        long txPackets = st.Tx.Counters.Packets, rxPackets = st.Rx.Counters.Packets;
        try
        {
            if (packed)
            {
                Drive(ref st.Tx.Packed, ref st.Rx.Packed, ref input, st, arena, mem, tx, rx, dp, inOrder);
            }
            else
            {
                Drive(ref st.Tx.Split, ref st.Rx.Split, ref input, st, arena, mem, tx, rx, dp, inOrder);
            }
        }
        finally
        {
            Targets.Trace?.Invoke($"{(packed ? "packed" : "split")} tx {st.Tx.Num} rx {st.Rx.Num} (guard pages: {arena.Guarded}): "
                + $"tx {st.Tx.Counters.Packets - txPackets} pkts fault {st.Tx.Fault}, rx {st.Rx.Counters.Packets - rxPackets} pkts fault {st.Rx.Fault}, "
                + $"in flight {tx.Taken.Count}/{rx.Taken.Count}, pair {(p.Dead ? "dead" : "alive")}");
            st.Tx.CallFd = -1;
            st.Rx.CallFd = -1;
            EventFd.Drain(st.CallFd);
        }
    }

    /// <summary>Attaches a ring through its layout, as the handler starts one, after the checks
    /// SET_VRING_NUM, SET_VRING_BASE and SET_VRING_ADDR make; false if they refuse.</summary>
    private static bool Attach(Vring v, GuestMemory mem, bool packed, uint num, ushort baseSel, ReadOnlySpan<ushort> parts,
        bool eventIdx, bool indirect, bool inOrder, DirtyLog? log)
    {
        v.Split = default;
        v.Packed = default;
        v.Layout = null;
        v.Num = num;
        v.Started = true;
        v.Enabled = true;
        ulong desc = GuestArena.Gpa0 + ((ulong)parts[0] << 4);
        ulong driver = GuestArena.Gpa0 + ((ulong)parts[1] << 2);
        ulong device = GuestArena.Gpa0 + ((ulong)parts[2] << 2);
        v.Addr = new VringAddr
        {
            Index = (uint)v.Index,
            DescUserAddr = desc + GuestArena.FvaOffset,
            AvailUserAddr = driver + GuestArena.FvaOffset,
            UsedUserAddr = device + GuestArena.FvaOffset,
            LogGuestAddr = device,
            Flags = log != null ? VringAddr.FlagLog : 0,
        };
        v.UsedLogGpa = device;
        // Packed: bits 0-14 index, 15 wrap; the used position equals the avail one (bits 16-31 zero).
        v.Base = packed ? (uint)(baseSel & 0x7fff) % num | (uint)(baseSel & 0x8000) : baseSel;
        ulong features = (eventIdx ? VirtioFeatures.RingEventIdx : 0) | (indirect ? VirtioFeatures.RingIndirectDesc : 0)
            | (inOrder ? VirtioFeatures.InOrder : 0);
        VringLayout layout = packed ? VringLayout.Packed : VringLayout.Split;
        if (layout.Attach(v, mem, features, out _) != null)
        {
            return false;
        }
        layout.SetUsedLog(v, log);
        return true;
    }

    private static void Drive<TRing>(ref TRing txRing, ref TRing rxRing, ref FuzzInput input, State st, GuestArena arena,
        GuestMemory mem, Side tx, Side rx, in DataPathConfig dp, bool inOrder)
        where TRing : struct, IDeviceRing
    {
        QueuePair p = st.Pair;
        for (int n = 0; n < MaxOps && !input.AtEnd; n++)
        {
            byte code = input.U8();
            bool onRx = (code & 0x10) != 0;
            Side side = onRx ? rx : tx;
            ref TRing ring = ref onRx ? ref rxRing : ref txRing;
            switch ((Op)(code & 0x0F))
            {
                case Op.Pop:
                    if (side.Taken.Count < MaxInFlight && ring.TryPop(mem, ref st.Chain, side.DeviceWrites) == PopStatus.Ok)
                    {
                        for (int i = 0; i < st.Chain.Count; i++)
                        {
                            ref Segment s = ref st.Chain[i];
                            arena.CheckRange(mem, s.Ptr, s.Len, s.Gpa, $"TryPop segment {i}");
                        }
                        side.Taken.Add(new InFlight { Id = st.Chain.Id, Slots = st.Chain.SlotCount, Len = st.Chain.TotalLen });
                    }
                    break;
                case Op.Take:
                {
                    Span<BufRef> burst = st.Burst.AsSpan(0, Math.Min((code >> 5) + 1, MaxInFlight - side.Taken.Count));
                    int got = ring.TakeSingles(mem, burst, side.DeviceWrites);
                    for (int i = 0; i < got; i++)
                    {
                        ref BufRef b = ref burst[i];
                        arena.CheckRange(mem, b.Ptr, b.Len, b.Gpa, $"TakeSingles buffer {i}");
                        side.Taken.Add(new InFlight { Id = b.Id, Slots = b.Slots, Len = b.Len });
                    }
                    break;
                }
                case Op.Push:
                {
                    byte arg = input.U8();
                    if (side.Taken.Count == 0)
                    {
                        break;
                    }
                    int i = inOrder ? 0 : arg % side.Taken.Count;
                    InFlight f = side.Taken[i];
                    side.Taken.RemoveAt(i);
                    uint written = side.DeviceWrites ? (uint)((ulong)f.Len * (uint)(arg >> 6) / 3) : 0;
                    ring.PushUsed(f.Id, written, f.Slots);
                    side.MarkValid = false;
                    break;
                }
                case Op.PushAll:
                {
                    var bufs = new BufRef[side.Taken.Count];
                    for (int i = 0; i < bufs.Length; i++)
                    {
                        bufs[i] = new BufRef { Id = side.Taken[i].Id, Slots = side.Taken[i].Slots, Len = side.Taken[i].Len };
                    }
                    if (side.DeviceWrites)
                    {
                        ring.PushUsedBurst(bufs);
                    }
                    else
                    {
                        ring.PushUsedBurstEmpty(bufs);
                    }
                    side.Reset();
                    break;
                }
                case Op.Publish:
                    ring.Publish((code & 0x20) != 0 && side.Vring.CallFd >= 0);
                    break;
                case Op.EnableKicks:
                    ring.EnableKicks();
                    break;
                case Op.DisableKicks:
                    ring.DisableKicks();
                    break;
                case Op.Mark:
                    side.Mark = ring.MarkPosition();
                    side.MarkCount = side.Taken.Count;
                    side.MarkValid = true;
                    break;
                case Op.Rewind:
                    if (side.MarkValid)
                    {
                        ring.RewindTo(side.Mark);
                        side.Taken.RemoveRange(side.MarkCount, side.Taken.Count - side.MarkCount);
                    }
                    break;
                case Op.GuestWrite:
                {
                    ulong off = (ulong)input.U16() << 2;
                    arena.GuestWrite(off, input.Bytes(input.U8() & 31));
                    break;
                }
                case Op.DataPath:
                    // The worker serves a pair whose rings the device holds nothing of (a round
                    // boundary); with IN_ORDER, buffers must also be returned in order.
                    if (!p.Dead && tx.Taken.Count == 0 && rx.Taken.Count == 0)
                    {
                        if (dp.Mode == NetMode.Loopback)
                        {
                            NetDataPath.Loopback(p, ref txRing, ref rxRing, mem, dp);
                        }
                        else
                        {
                            NetDataPath.Sink(p, ref txRing, mem, dp);
                        }
                        tx.MarkValid = rx.MarkValid = false;
                    }
                    break;
                case Op.Rarp:
                    if (!p.Dead && rx.Taken.Count == 0)
                    {
                        NetDataPath.InjectRarp(p, ref rxRing, mem, dp.HdrLen, s_mac, dp.Log);
                        rx.MarkValid = false;
                    }
                    break;
                case Op.Remap:
                    // SET_MEM_TABLE / ADD / REM between rounds: the handler re-points running
                    // rings, and marks a ring broken if its parts are no longer mapped.
                    if (tx.Taken.Count == 0 && rx.Taken.Count == 0)
                    {
                        mem = arena.Layout(code >> 4);
                        Retranslate(tx.Vring, mem);
                        Retranslate(rx.Vring, mem);
                    }
                    break;
                default:
                    ring.Available();
                    break;
            }
        }
    }

    private static void Retranslate(Vring v, GuestMemory mem)
    {
        if (v.Layout!.Retranslate(v, mem) != null)
        {
            v.Layout.SetFault(v, RingFault.RingUnmapped);
        }
    }
}

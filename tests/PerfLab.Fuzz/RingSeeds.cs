using PerfLab.Vhost.Virtq;
using Op = PerfLab.Fuzz.RingTarget.Op;

namespace PerfLab.Fuzz;

/// <summary>Builds <see cref="RingTarget"/> inputs (see its format).</summary>
public sealed class RingInput
{
    public const byte Packed = 1, EventIdx = 2, Indirect = 4, InOrder = 8, Mergeable = 0x10, Sink = 0x20, Legacy = 0x40, DirtyLog = 0x80;
    public const byte CallFd = 1, NoBackpressure = 2;

    // Where the seeds put things, as offsets from region 0 (GPA 0x100000).
    public const int TxRing = 0x0000, RxRing = 0x0400, Table = 0x0800, TxBufs = 0x0880, RxBufs = 0x1000;

    private readonly FuzzOutput _ops = new();

    public byte Cfg;
    public int Memory;          // layout 0-3
    public int TxSizeSel = 4, RxSizeSel = 4;
    public byte Misc = CallFd | (31 << 2);
    public ushort TxBase, RxBase;
    public readonly GuestImage Image = new(PerfLab.Fuzz.GuestArena.Gpa0);

    public RingInput(byte cfg) => Cfg = cfg;

    public bool IsPacked => (Cfg & Packed) != 0;

    public static ulong Gpa(int offset) => GuestArena.Gpa0 + (ulong)offset;

    /// <summary>The driver area (avail ring / driver event) and device area (used ring / device
    /// event) of the ring whose descriptors start at <paramref name="ring"/>.</summary>
    public int Driver(int ring) => ring + (IsPacked ? 0x3E0 : 0x100);

    public int Device(int ring) => ring + (IsPacked ? 0x3E4 : 0x200);

    public RingInput Do(Op op, bool rx = false, int hi = 0)
    {
        _ops.U8((byte)op | (rx ? 0x10 : 0) | hi << 5);
        return this;
    }

    public RingInput Push(bool rx, int which, int written)
    {
        Do(Op.Push, rx);
        _ops.U8(which & 0x3F | written << 6);
        return this;
    }

    public RingInput Write(int fileOffset, ReadOnlySpan<byte> bytes)
    {
        _ops.U8((byte)Op.GuestWrite).U16(fileOffset >> 2).U8(bytes.Length).Raw(bytes);
        return this;
    }

    public RingInput Remap(int layout)
    {
        _ops.U8((byte)Op.Remap | layout << 4);
        return this;
    }

    public byte[] ToArray()
    {
        var o = new FuzzOutput();
        o.U8(Cfg).U8(Memory | TxSizeSel << 2 | RxSizeSel << 5).U8(Misc).U16(TxBase).U16(RxBase);
        foreach (int ring in new[] { TxRing, RxRing })
        {
            o.U16(ring >> 4).U16(Driver(ring) >> 2).U16(Device(ring) >> 2);
        }
        byte[] image = Image.ToArray();
        o.U16(image.Length).Raw(image);
        return o.Raw(_ops.ToArray()).ToArray();
    }
}

/// <summary>The ring seeds: loopback and sink over split and packed rings with the features
/// the back-end offers, chains, indirect tables, buffers straddling two regions, and the
/// device-side operations one by one.</summary>
public static class RingSeeds
{
    private const ushort W = VirtqDesc.FlagWrite, N = VirtqDesc.FlagNext, I = VirtqDesc.FlagIndirect;

    /// <summary>Split: TX frames in single descriptors, RX buffers of 2 KiB (frame and buffer
    /// contents need not be in the image: guest RAM is zero beyond it).</summary>
    private static RingInput SplitBasic(byte cfg, int frames, int rxBufs)
    {
        var s = new RingInput(cfg);
        var g = s.Image;
        var heads = new ushort[frames];
        for (int i = 0; i < frames; i++)
        {
            g.Desc(RingInput.TxRing, i, RingInput.Gpa(RingInput.TxBufs + 0x50 * i), 12 + 60, 0).Frame(RingInput.TxBufs + 0x50 * i, 60, (byte)i);
            heads[i] = (ushort)i;
        }
        g.Avail(s.Driver(RingInput.TxRing), 16, 0, heads);
        heads = new ushort[rxBufs];
        for (int i = 0; i < rxBufs; i++)
        {
            g.Desc(RingInput.RxRing, i, RingInput.Gpa(RingInput.RxBufs + 0x800 * i), 2048, W);
            heads[i] = (ushort)i;
        }
        g.Avail(s.Driver(RingInput.RxRing), 16, 0, heads);
        g.UsedIdx(s.Device(RingInput.RxRing), 0);
        return s;
    }

    /// <summary>Packed: the same, in fresh rings (wrap counter 1).</summary>
    private static RingInput PackedBasic(byte cfg, int frames, int rxBufs)
    {
        var s = new RingInput((byte)(cfg | RingInput.Packed)) { TxBase = 0x8000, RxBase = 0x8000 };
        s.TxSizeSel = s.RxSizeSel = 5; // 16
        var g = s.Image;
        for (int i = 0; i < frames; i++)
        {
            g.Packed(RingInput.TxRing, i, RingInput.Gpa(RingInput.TxBufs + 0x50 * i), 12 + 60, (ushort)i, 0).Frame(RingInput.TxBufs + 0x50 * i, 60, (byte)i);
        }
        for (int i = 0; i < rxBufs; i++)
        {
            g.Packed(RingInput.RxRing, i, RingInput.Gpa(RingInput.RxBufs + 0x800 * i), 2048, (ushort)i, W);
        }
        return s;
    }

    public static IEnumerable<(string Name, byte[] Input)> All()
    {
        // Loopback, split, plain: two frames, publish with calls, kicks re-armed; then the guest
        // offers a third frame (descriptor, ring entry, index) and the worker runs again.
        var s = SplitBasic(0, 2, 4);
        s.Do(Op.DataPath).Do(Op.EnableKicks).Do(Op.EnableKicks, rx: true);
        var more = new GuestImage(0).Desc(0, 0, RingInput.Gpa(RingInput.TxBufs + 0xA0), 12 + 60, 0);
        s.Write(RingInput.TxRing + 32, more.From(0)).Write(s.Driver(RingInput.TxRing), [0, 0, 3, 0, 0, 0, 1, 0, 2, 0])
            .Do(Op.DataPath).Do(Op.Publish, hi: 1).Do(Op.Available);
        yield return ("split-loopback", s.ToArray());

        // EVENT_IDX, INDIRECT_DESC, MRG_RXBUF: a TX chain (header, frame), an indirect TX
        // buffer, a big frame merged over small RX buffers.
        s = SplitBasic(RingInput.EventIdx | RingInput.Indirect | RingInput.Mergeable, 0, 0);
        var g = s.Image;
        g.Desc(RingInput.TxRing, 0, RingInput.Gpa(RingInput.TxBufs), 12, N, 1)
         .Desc(RingInput.TxRing, 1, RingInput.Gpa(RingInput.TxBufs + 12), 60, 0)
         .Desc(RingInput.TxRing, 2, RingInput.Gpa(RingInput.Table), 32, I)
         .Desc(RingInput.Table, 0, RingInput.Gpa(RingInput.TxBufs + 0x50), 12, N, 1)
         .Desc(RingInput.Table, 1, RingInput.Gpa(RingInput.TxBufs + 0x5C), 600, 0)
         .Frame(RingInput.TxBufs, 60, 1).Frame(RingInput.TxBufs + 0x50, 64, 2)
         .Avail(s.Driver(RingInput.TxRing), 16, 0, 0, 2);
        for (int i = 0; i < 6; i++)
        {
            g.Desc(RingInput.RxRing, i, RingInput.Gpa(RingInput.RxBufs + 0x100 * i), 256, W);
        }
        g.Avail(s.Driver(RingInput.RxRing), 16, 0, 0, 1, 2, 3, 4, 5).U16(s.Driver(RingInput.RxRing) + 4 + 32, 1); // used_event
        s.Do(Op.DataPath).Do(Op.EnableKicks).Do(Op.DisableKicks, rx: true).Do(Op.DataPath);
        yield return ("split-features", s.ToArray());

        // IN_ORDER, sink: a burst taken, returned one by one (batched), published.
        s = SplitBasic(RingInput.InOrder | RingInput.Sink, 4, 0);
        s.Do(Op.Take, hi: 1).Push(false, 0, 0).Push(false, 0, 0).Do(Op.Publish).Do(Op.DataPath).Do(Op.Publish, hi: 1);
        yield return ("split-inorder-sink", s.ToArray());

        // The device-side operations one by one: mark, pop, rewind, burst, push with lengths,
        // memory change between rounds, RARP, then the data path.
        s = SplitBasic(RingInput.Indirect, 3, 3);
        s.Do(Op.Mark).Do(Op.Pop).Do(Op.Pop).Do(Op.Rewind).Do(Op.Take, hi: 2).Push(false, 1, 0).Do(Op.PushAll)
         .Do(Op.Pop, rx: true).Push(true, 0, 3).Do(Op.Take, rx: true).Do(Op.PushAll, rx: true).Do(Op.Publish, rx: true, hi: 1)
         .Do(Op.Publish).Remap(1).Do(Op.Rarp).Do(Op.DataPath).Do(Op.Available, rx: true);
        yield return ("split-ops", s.ToArray());

        // Buffers straddling regions 0 and 1 (adjacent guest-physical, apart in the host), and
        // one in region 2; the dirty log on.
        s = SplitBasic(RingInput.DirtyLog, 1, 1);
        s.Memory = 3;
        s.Image.Desc(RingInput.TxRing, 0, RingInput.Gpa(0xFF00), 12 + 400, 0)
               .Desc(RingInput.TxRing, 1, 0x4000_0000, 12 + 60, 0).Avail(s.Driver(RingInput.TxRing), 16, 0, 0, 1)
               .Desc(RingInput.RxRing, 0, RingInput.Gpa(0xFE00), 2048, W)
               .Desc(RingInput.RxRing, 1, RingInput.Gpa(RingInput.RxBufs), 2048, W).Avail(s.Driver(RingInput.RxRing), 16, 0, 0, 1);
        s.Do(Op.DataPath).Do(Op.Remap).Do(Op.DataPath);
        yield return ("split-straddle-log", s.ToArray());

        // Packed, EVENT_IDX: two frames looped back, kicks re-armed.
        var p = PackedBasic(RingInput.EventIdx, 2, 4);
        p.Do(Op.DataPath).Do(Op.EnableKicks).Do(Op.EnableKicks, rx: true).Do(Op.Publish, hi: 1);
        yield return ("packed-loopback", p.ToArray());

        // Packed chains: a TX chain over two slots, an indirect TX buffer, mergeable RX; taken
        // and returned by hand, then the data path.
        p = PackedBasic(RingInput.Indirect | RingInput.Mergeable, 0, 3);
        var pg = p.Image;
        pg.Packed(RingInput.TxRing, 0, RingInput.Gpa(RingInput.TxBufs), 12, 0, N)
          .Packed(RingInput.TxRing, 1, RingInput.Gpa(RingInput.TxBufs + 12), 60, 0, 0)
          .Packed(RingInput.TxRing, 2, RingInput.Gpa(RingInput.Table), 32, 1, I)
          .Desc(RingInput.Table, 0, RingInput.Gpa(RingInput.TxBufs + 0x50), 12, 0)
          .Desc(RingInput.Table, 1, RingInput.Gpa(RingInput.TxBufs + 0x5C), 100, 0)
          .Frame(RingInput.TxBufs, 60, 3).Frame(RingInput.TxBufs + 0x50, 64, 4);
        p.Do(Op.Pop).Push(false, 0, 0).Do(Op.Take, rx: true, hi: 1).Do(Op.PushAll, rx: true).Do(Op.Publish, hi: 1)
         .Do(Op.Publish, rx: true).Do(Op.DataPath).Do(Op.Available);
        yield return ("packed-chains", p.ToArray());

        // Packed, odd size (61) starting near the end of the ring: the wrap.
        p = new RingInput(RingInput.Packed | RingInput.Sink) { TxSizeSel = 6, RxSizeSel = 6, TxBase = 0x8000 | 59, RxBase = 0x8000 };
        p.Image.Packed(RingInput.TxRing, 59, RingInput.Gpa(RingInput.TxBufs), 72, 5, 0)
               .Packed(RingInput.TxRing, 60, RingInput.Gpa(RingInput.TxBufs + 0x100), 72, 6, 0)
               .Packed(RingInput.TxRing, 0, RingInput.Gpa(RingInput.TxBufs + 0x200), 72, 7, 0, wrap: false);
        p.Do(Op.DataPath).Do(Op.EnableKicks).Do(Op.DataPath);
        yield return ("packed-wrap-sink", p.ToArray());
    }
}

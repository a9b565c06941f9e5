using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

/// <summary>
/// A randomised driver and device for a <see cref="PackedRingPair"/>: the driver posts
/// single descriptors, NEXT chains and indirect tables with random ids and lengths, each
/// segment filled with a byte unique to the post; the device takes them through the burst path
/// or the general path and returns them in random batches; the driver reclaims them. Every step
/// checks that ids, lengths, slot counts and contents arrive intact and that nothing is lost or
/// duplicated.
/// </summary>
internal sealed unsafe class PackedWorkload
{
    public const int MaxSegs = 4;
    public const int SegLen = 48;

    private readonly PackedRingPair _rp;
    private readonly bool _writes;
    private readonly Random _post;     // drives what is posted (shared shape between twins)
    private readonly Random _take;     // drives how the device takes and returns
    private readonly ulong _data;
    private readonly ulong _tables;
    private readonly List<ushort> _freeIds = [];
    private readonly Dictionary<ushort, Expected> _posted = [];
    private readonly Queue<(ushort Id, uint Written)> _published = new();
    private readonly List<BufRef> _completed = [];
    private readonly BufRef[] _burst = new BufRef[16];
    private byte _fill;

    public long Posted, Taken, Reclaimed, SlotsReclaimed;

    private readonly record struct Expected(int Kind, int[] Lens, byte Fill, ushort Slots);

    public PackedWorkload(PackedRingPair rp, bool deviceWrites, int postSeed, int takeSeed)
    {
        _rp = rp;
        _writes = deviceWrites;
        _post = new Random(postSeed);
        _take = new Random(takeSeed);
        _data = rp.Buffer(SegLen * MaxSegs * rp.Size);
        _tables = rp.Ram.Alloc((ulong)(16 * MaxSegs * rp.Size), 16);
        for (int i = 0; i < rp.Size; i++)
        {
            _freeIds.Add((ushort)i);
        }
    }

    /// <summary>The bytes the device reports written for a buffer (RX), 0 for TX.</summary>
    private uint Written(ushort id, uint total) => _writes ? 1 + (uint)(id * 7) % total : 0;

    /// <summary>Posts a random number of random buffers and publishes them.</summary>
    public void PostSome()
    {
        int want = _post.Next(0, _rp.Size + 1);
        Span<PackedDesc> all = stackalloc PackedDesc[MaxSegs];
        for (int k = 0; k < want && _freeIds.Count > 0 && _rp.Driver.FreeSlots > 0; k++)
        {
            int kind = _post.Next(3);
            if (kind == 2 && !_rp.Indirect)
            {
                kind = 0;
            }
            int segs = kind == 0 ? 1 : _post.Next(kind == 1 ? 2 : 1, MaxSegs + 1);
            if (kind == 1)
            {
                segs = Math.Min(segs, _rp.Driver.FreeSlots);
                if (segs < 2)
                {
                    kind = 0;
                    segs = 1;
                }
            }
            int at = _post.Next(_freeIds.Count);
            ushort id = _freeIds[at];
            _freeIds.RemoveAt(at);
            _fill = (byte)(_fill == 255 ? 1 : _fill + 1);
            var lens = new int[segs];
            Span<PackedDesc> elems = all[..segs];
            ushort wflag = _writes ? PackedDesc.FlagWrite : (ushort)0;
            for (int s = 0; s < segs; s++)
            {
                lens[s] = _post.Next(1, SegLen + 1);
                ulong gpa = _data + (ulong)((id * MaxSegs + s) * SegLen);
                _rp.Ram.Span(gpa, lens[s]).Fill(_fill);
                elems[s] = new PackedDesc { Addr = gpa, Len = (uint)lens[s], Flags = wflag };
            }
            bool ok;
            if (kind == 0)
            {
                ok = _rp.Driver.Post(id, elems[0].Addr, elems[0].Len, _writes);
            }
            else if (kind == 1)
            {
                ok = _rp.Driver.PostChain(id, elems);
            }
            else
            {
                ulong table = _tables + (ulong)(id * MaxSegs * 16);
                new Span<PackedDesc>(_rp.Ram.Host(table), segs).Clear();
                elems.CopyTo(new Span<PackedDesc>(_rp.Ram.Host(table), segs));
                ok = _rp.Driver.PostIndirect(id, table, segs);
            }
            Assert.True(ok);
            _posted.Add(id, new Expected(kind, lens, _fill, (ushort)(kind == 1 ? segs : 1)));
            Posted++;
        }
        if (_post.Next(2) == 0)
        {
            _rp.Driver.Publish();
        }
        else
        {
            _rp.Driver.PublishNoKick();
        }
    }

    /// <summary>
    /// The device takes a random number of buffers (all of them when <paramref name="all"/>),
    /// through TakeSingles (with random rewinds) when <paramref name="burst"/>, else TryPop only,
    /// returns them in random batches with PushUsed / PushUsedBurst and publishes.
    /// </summary>
    public void TakeSome(bool burst, bool all)
    {
        int budget = all ? int.MaxValue : _take.Next(0, _rp.Size + 1);
        for (int step = 0; budget > 0; step++)
        {
            Assert.True(step < 100 * _rp.Size + 100, "the device keeps taking buffers: more than were posted");
            int avail = _rp.Device.Available();
            Assert.True(avail >= 0, $"ring broke: {_rp.Device.Fault}");
            if (avail == 0)
            {
                break;
            }
            if (burst && _take.Next(2) == 0)
            {
                int n = Math.Min(budget, _take.Next(1, _burst.Length + 1));
                uint mark = _rp.Device.MarkPosition();
                int got = _rp.Device.TakeSingles(_rp.Memory, _burst.AsSpan(0, n), _writes);
                Assert.Equal(RingFault.None, _rp.Device.Fault);
                int keep = got > 0 && _take.Next(3) == 0 ? _take.Next(got) : got;
                if (keep < got)
                {
                    _rp.Device.RewindBurst(mark, keep);
                }
                for (int i = 0; i < keep; i++)
                {
                    ref BufRef b = ref _burst[i];
                    CheckSingle(in b);
                    b.Len = Written(b.Id, b.Len);
                    _completed.Add(b);
                }
                budget -= keep;
                if (got > 0)
                {
                    continue;
                }
            }
            PopStatus s = _rp.Device.TryPop(_rp.Memory, ref _rp.Chain, _writes);
            Assert.Equal(RingFault.None, _rp.Device.Fault);
            if (s == PopStatus.Empty)
            {
                break;
            }
            CheckChain();
            _completed.Add(new BufRef { Id = _rp.Chain.Id, Len = Written(_rp.Chain.Id, _rp.Chain.TotalLen), Slots = _rp.Chain.SlotCount });
            budget--;
        }
        Complete(burst);
    }

    private void Complete(bool burst)
    {
        int i = 0;
        while (i < _completed.Count)
        {
            int n = Math.Min(_completed.Count - i, _take.Next(1, 6));
            if (burst && _take.Next(2) == 0)
            {
                var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_completed).Slice(i, n);
                if (_writes)
                {
                    _rp.Device.PushUsedBurst(span);
                }
                else
                {
                    _rp.Device.PushUsedBurstEmpty(span);
                }
            }
            else
            {
                for (int j = i; j < i + n; j++)
                {
                    _rp.Device.PushUsed(_completed[j].Id, _completed[j].Len, _completed[j].Slots);
                }
            }
            for (int j = i; j < i + n; j++)
            {
                _published.Enqueue((_completed[j].Id, _completed[j].Len));
            }
            i += n;
            if (_take.Next(2) == 0 || i == _completed.Count)
            {
                _rp.Device.Publish(canCall: _take.Next(2) == 0);
                Assert.Equal(0, _rp.Device.PendingUsed);
            }
        }
        Taken += _completed.Count;
        _completed.Clear();
    }

    /// <summary>The driver takes every used descriptor, in order, checking id and length.</summary>
    public void Reclaim()
    {
        while (_rp.Driver.TryTakeUsed(out ushort id, out uint len))
        {
            Assert.True(_published.TryDequeue(out var e), $"used id {id} was never returned by the device");
            Assert.Equal(e.Id, id);
            Assert.Equal(e.Written, len);
            Assert.True(_posted.Remove(id, out Expected p), $"id {id} returned twice");
            SlotsReclaimed += p.Slots;
            _freeIds.Add(id);
            Reclaimed++;
        }
        Assert.False(_rp.Driver.DeviceFault);
        Assert.Empty(_published);
        Assert.Equal(_posted.Count, _rp.Driver.InFlight);
    }

    private void CheckSingle(in BufRef b)
    {
        Assert.True(_posted.TryGetValue(b.Id, out Expected e), $"id {b.Id} taken but not posted");
        Assert.Equal(0, e.Kind);
        Assert.Equal(1, b.Slots);
        Assert.Equal((uint)e.Lens[0], b.Len);
        Assert.Equal(e.Fill, *b.Ptr);
        Assert.Equal(e.Fill, b.Ptr[b.Len - 1]);
    }

    private void CheckChain()
    {
        ref DescChain c = ref _rp.Chain;
        Assert.True(_posted.TryGetValue(c.Id, out Expected e), $"id {c.Id} taken but not posted");
        Assert.Equal(e.Slots, c.SlotCount);
        Assert.Equal(e.Lens.Length, c.Count);
        for (int s = 0; s < c.Count; s++)
        {
            Span<byte> seg = c.SegmentSpan(s);
            Assert.Equal(e.Lens[s], seg.Length);
            Assert.Equal(e.Fill, seg[0]);
            Assert.Equal(e.Fill, seg[^1]);
        }
    }

    /// <summary>Takes and returns everything still posted.</summary>
    public void Drain(bool burst)
    {
        TakeSome(burst, all: true);
        Reclaim();
        Assert.Empty(_posted);
    }
}

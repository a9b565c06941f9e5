using System.Runtime.CompilerServices;
using PerfLab.Backend.Devices;
using PerfLab.Backend.Rings;
using PerfLab.LoadGen;
using PerfLab.LoadGen.Guest;
using PerfLab.LoadGen.Guest.Rings;
using PerfLab.Tests.Infrastructure;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;
using Xunit;
using D = PerfLab.Vhost.Virtq.VirtqDesc;
using PD = PerfLab.Vhost.Virtq.PackedDesc;

namespace PerfLab.Tests.Hostile;

/// <summary>
/// A hostile guest, case by case: a normal session is set up with the load generator, then
/// the case writes bad descriptors or indices into guest memory (split and packed rings) and
/// kicks. The ring must be marked broken with the right <see cref="RingFault"/>, counted,
/// logged once, its err fd signalled, DEVICE_NEEDS_RESET reported, and the back-end must go
/// on: other queue pairs keep serving in the same session, and a good session works after
/// (<see cref="CaseRunner"/>). Cases with no fault (kick storms) must leave traffic intact.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed unsafe class HostileRingTests(HostileBackend backend)
{
    /// <summary>A case: the session it needs, what it does, the ring and fault it must cause
    /// (None: no fault, and traffic on the same session stays intact), and what the log line
    /// must say: by default the ring, the fault and <see cref="Value"/> (the offending value and
    /// its rule); <see cref="Log"/> replaces that when the control plane reports the fault.</summary>
    public sealed record Case(string Name, bool Packed, int Ring, RingFault Fault, Action<Ctx> Act,
        bool Indirect = false, int Queues = 1, string[]? Log = null, bool MemSlots = false, string? Value = null);

    public sealed class Ctx(LoadGenerator gen, HostileBackend backend)
    {
        public LoadGenerator Gen => gen;
        public HostileBackend Backend => backend;
        public PairDriver P => gen.Pairs[0];

        /// <summary>Pair 0 with split rings (split cases), and with packed rings (packed cases).</summary>
        public PairDriver<SplitGuestRing> Split => (PairDriver<SplitGuestRing>)P;

        public PairDriver<PackedGuestRing> Packed => (PairDriver<PackedGuestRing>)P;
        public ulong EndGpa => gen.Ram.EndGpa;

        /// <summary>A valid TX buffer (TX buffer 0's, which no traffic uses here).</summary>
        public ulong TxBuf => P.TxGpa[0];

        /// <summary>Writes <paramref name="descs"/> at descriptors 0.. of the split TX ring,
        /// makes head 0 available and kicks.</summary>
        public void SplitTx(params D[] descs)
        {
            for (int i = 0; i < descs.Length; i++)
            {
                Split.Tx.Ring.Desc(i) = descs[i];
            }
            Split.Tx.Ring.Post(0);
            Split.Tx.Ring.PublishNoKick();
            EventFd.Signal(P.KickTx);
        }

        /// <summary>Makes <paramref name="descs"/> available verbatim on the packed TX ring and kicks.</summary>
        public void PackedTx(params PD[] descs)
        {
            Assert.True(Packed.Tx.Ring.PostRaw(descs));
            Packed.Tx.Ring.PublishNoKick();
            EventFd.Signal(P.KickTx);
        }

        /// <summary>An indirect table in guest memory; returns its guest-physical address.</summary>
        public ulong Table<T>(params T[] entries) where T : unmanaged
        {
            ulong gpa = gen.Ram.Alloc((ulong)(Unsafe.SizeOf<T>() * entries.Length), 16);
            entries.CopyTo(new Span<T>(gen.Ram.Host(gpa), entries.Length));
            return gpa;
        }

        /// <summary>Sends one good frame on pair 0 (the RX buffer it lands in is what the case broke).</summary>
        public void OneTxFrame()
        {
            if (P is PairDriver<PackedGuestRing> packed)
            {
                packed.Tx.Post(1);
                packed.Tx.PublishNoKick();
            }
            else
            {
                Split.Tx.Post(1);
                Split.Tx.PublishNoKick();
            }
            EventFd.Signal(P.KickTx);
        }

        /// <summary>Runs <paramref name="work"/> on a thread until the case ends (storms).</summary>
        public void Background(Action<CancellationToken> work)
        {
            var t = new Thread(() => work(_stop.Token)) { IsBackground = true, Name = "hostile-background" };
            _threads.Add(t);
            t.Start();
        }

        public void StopBackground()
        {
            _stop.Cancel();
            foreach (Thread t in _threads)
            {
                Assert.True(t.Join(Timeouts.Short), "a background thread did not stop");
            }
        }

        private readonly CancellationTokenSource _stop = new();
        private readonly List<Thread> _threads = [];
    }

    private const ushort N = D.FlagNext, W = D.FlagWrite, I = D.FlagIndirect;
    private const ulong Far = 0x80_0000_0000; // 512 GiB: far beyond any guest RAM here

    private static readonly Case[] s_cases =
    [
        // ---- split ring, TX (vring 1) -----------------------------------------------------------
        new("split: descriptor outside guest memory", false, 1, RingFault.DescOutsideMemory, c =>
            c.SplitTx(new D { Addr = Far, Len = 64 }), Value: "addr=0x8000000000 with its len is not inside guest memory"),
        new("split: descriptor at guest address 0, below guest memory", false, 1, RingFault.DescOutsideMemory, c =>
            c.SplitTx(new D { Addr = 0, Len = 64 }), Value: "addr=0x0 with its len"),
        new("split: descriptor address + length overflows", false, 1, RingFault.DescOutsideMemory, c =>
            c.SplitTx(new D { Addr = 0xFFFF_FFFF_FFFF_FFC0, Len = 0x100 }), Value: "addr=0xffffffffffffffc0"),
        new("split: descriptor running past the end of guest memory", false, 1, RingFault.DescOutsideMemory, c =>
            c.SplitTx(new D { Addr = c.EndGpa - 32, Len = 64 })),
        new("split: looping chain (0 -> 1 -> 0)", false, 1, RingFault.ChainTooLong, c =>
            c.SplitTx(new D { Addr = c.TxBuf, Len = 64, Flags = N, Next = 1 }, new D { Addr = c.TxBuf, Len = 64, Flags = N, Next = 0 }), Value: "chain longer than its table of 256 descriptors"),
        new("split: descriptor chained to itself", false, 1, RingFault.ChainTooLong, c =>
            c.SplitTx(new D { Addr = c.TxBuf, Len = 1, Flags = N, Next = 0 }), Value: "chain longer than its table of 256 descriptors"),
        new("split: next beyond the queue", false, 1, RingFault.NextOutOfRange, c =>
            c.SplitTx(new D { Addr = c.TxBuf, Len = 64, Flags = N, Next = 256 }), Value: "next=0x100 must be below the size of its table"),
        new("split: head beyond the queue", false, 1, RingFault.HeadOutOfRange, c =>
        {
            c.Split.Tx.Ring.Post(300);
            c.Split.Tx.Ring.PublishNoKick();
            EventFd.Signal(c.P.KickTx);
        }, Value: "head=0x12c must be below the queue size (256)"),
        new("split: avail index jumps past the queue size", false, 1, RingFault.AvailIndexJump, c =>
        {
            *(ushort*)(c.Gen.Ram.Host(c.Split.Tx.DriverAreaGpa) + 2) = 300;
            EventFd.Signal(c.P.KickTx);
        }, Value: "avail.idx=0x12c is more than the queue size (256)"),
        new("split: write-only descriptor on TX", false, 1, RingFault.WrongDirection, c =>
            c.SplitTx(new D { Addr = c.TxBuf, Len = 64, Flags = W }), Value: "flags=0x2: the WRITE bit is wrong"),
        new("split: zero-length descriptor", false, 1, RingFault.ZeroLength, c =>
            c.SplitTx(new D { Addr = c.TxBuf, Len = 0 }), Value: "buffer 0x0 has no bytes"),
        new("split: chain of zero-length descriptors", false, 1, RingFault.ZeroLength, c =>
            c.SplitTx(new D { Addr = c.TxBuf, Len = 0, Flags = N, Next = 1 }, new D { Addr = c.TxBuf, Len = 0 }), Value: "buffer 0x0 has no bytes"),
        new("split: indirect table not negotiated", false, 1, RingFault.IndirectNotNegotiated, c =>
            c.SplitTx(new D { Addr = c.Table(new D { Addr = c.TxBuf, Len = 64 }), Len = 16, Flags = I }), Value: "flags=0x4: INDIRECT without RING_INDIRECT_DESC"),
        new("split: nested indirect table", false, 1, RingFault.IndirectNested, c =>
        {
            ulong inner = c.Table(new D { Addr = c.TxBuf, Len = 64 });
            c.SplitTx(new D { Addr = c.Table(new D { Addr = inner, Len = 16, Flags = I }), Len = 16, Flags = I });
        }, Indirect: true, Value: "flags=0x4: an indirect table inside an indirect table"),
        new("split: indirect length not a multiple of 16", false, 1, RingFault.IndirectBadLength, c =>
            c.SplitTx(new D { Addr = c.Table(new D { Addr = c.TxBuf, Len = 64 }, default), Len = 24, Flags = I }), Indirect: true, Value: "len=0x18 of an indirect table"),
        new("split: indirect length 0", false, 1, RingFault.IndirectBadLength, c =>
            c.SplitTx(new D { Addr = c.Table(new D { Addr = c.TxBuf, Len = 64 }), Len = 0, Flags = I }), Indirect: true, Value: "len=0x0 of an indirect table"),
        new("split: indirect table outside guest memory", false, 1, RingFault.IndirectOutsideMemory, c =>
            c.SplitTx(new D { Addr = Far, Len = 32, Flags = I }), Indirect: true, Value: "indirect table addr=0x8000000000"),
        new("split: indirect descriptor with NEXT", false, 1, RingFault.IndirectWithNext, c =>
            c.SplitTx(new D { Addr = c.Table(new D { Addr = c.TxBuf, Len = 64 }), Len = 16, Flags = I | N, Next = 1 }, new D { Addr = c.TxBuf, Len = 64 }), Indirect: true, Value: "flags=0x5: INDIRECT may not be chained with NEXT"),
        new("split: looping indirect table", false, 1, RingFault.ChainTooLong, c =>
            c.SplitTx(new D { Addr = c.Table(new D { Addr = c.TxBuf, Len = 8, Flags = N, Next = 1 }, new D { Addr = c.TxBuf, Len = 8, Flags = N, Next = 0 }), Len = 32, Flags = I }), Indirect: true, Value: "chain longer than its table of 2 descriptors"),
        new("split: indirect next beyond the table", false, 1, RingFault.NextOutOfRange, c =>
            c.SplitTx(new D { Addr = c.Table(new D { Addr = c.TxBuf, Len = 8, Flags = N, Next = 5 }, new D { Addr = c.TxBuf, Len = 8 }), Len = 32, Flags = I }), Indirect: true, Value: "next=0x5"),
        new("split: indirect table longer than the queue", false, 1, RingFault.TooManySegments, c =>
            c.SplitTx(new D
            {
                Addr = c.Table(Enumerable.Range(0, 400).Select(i => new D { Addr = c.TxBuf, Len = 1, Flags = i < 399 ? N : (ushort)0, Next = (ushort)(i + 1) }).ToArray()),
                Len = 400 * 16,
                Flags = I,
            }), Indirect: true, Value: "a buffer of more than 272 segments"),

        // ---- split ring, RX (vring 0): the device takes the next posted RX buffer (id 0) -----------
        new("split: read-only descriptor on RX", false, 0, RingFault.WrongDirection, c =>
        {
            c.Split.Rx.Ring.Desc(0).Flags = 0;
            c.OneTxFrame();
        }, Value: "flags=0x0: the WRITE bit is wrong"),
        new("split: RX descriptor outside guest memory", false, 0, RingFault.DescOutsideMemory, c =>
        {
            c.Split.Rx.Ring.Desc(0).Addr = Far;
            c.OneTxFrame();
        }, Value: "addr=0x8000000000"),

        // ---- packed ring ---------------------------------------------------------------------------
        new("packed: descriptor outside guest memory", true, 1, RingFault.DescOutsideMemory, c =>
            c.PackedTx(new PD { Addr = Far, Len = 64 }), Value: "addr=0x8000000000"),
        new("packed: descriptor address + length overflows", true, 1, RingFault.DescOutsideMemory, c =>
            c.PackedTx(new PD { Addr = 0xFFFF_FFFF_FFFF_FFC0, Len = 0x100 }), Value: "addr=0xffffffffffffffc0"),
        new("packed: buffer id beyond the queue", true, 1, RingFault.PackedBadId, c =>
            c.PackedTx(new PD { Addr = c.TxBuf, Len = 64, Id = 300 }), Value: "id=0x12c must be below the queue size (256)"),
        new("packed: chain longer than the queue", true, 1, RingFault.ChainTooLong, c =>
            c.PackedTx([.. Enumerable.Range(0, 256).Select(_ => new PD { Addr = c.TxBuf, Len = 64, Flags = PD.FlagNext })]), Value: "chain longer than its table of 256 descriptors"),
        new("packed: chain running into a slot not made available", true, 1, RingFault.PackedChainIncomplete, c =>
            c.PackedTx(new PD { Addr = c.TxBuf, Len = 64, Flags = PD.FlagNext }, new PD { Addr = c.TxBuf, Len = 64, Flags = PD.FlagNext }), Value: "slot 2 is chained with NEXT but not available"),
        new("packed: write-only descriptor on TX", true, 1, RingFault.WrongDirection, c =>
            c.PackedTx(new PD { Addr = c.TxBuf, Len = 64, Flags = PD.FlagWrite }), Value: "flags=0x82: the WRITE bit is wrong"),
        new("packed: zero-length descriptor", true, 1, RingFault.ZeroLength, c =>
            c.PackedTx(new PD { Addr = c.TxBuf, Len = 0 }), Value: "buffer 0x0 has no bytes"),
        new("packed: nested indirect table", true, 1, RingFault.IndirectNested, c =>
        {
            ulong inner = c.Table(new PD { Addr = c.TxBuf, Len = 64 });
            c.PackedTx(new PD { Addr = c.Table(new PD { Addr = inner, Len = 16, Flags = PD.FlagIndirect }), Len = 16, Flags = PD.FlagIndirect });
        }, Indirect: true, Value: "flags=0x4: an indirect table inside an indirect table"),
        new("packed: indirect length not a multiple of 16", true, 1, RingFault.IndirectBadLength, c =>
            c.PackedTx(new PD { Addr = c.Table(new PD { Addr = c.TxBuf, Len = 64 }, default), Len = 20, Flags = PD.FlagIndirect }), Indirect: true, Value: "len=0x14 of an indirect table"),
        new("packed: indirect descriptor with NEXT", true, 1, RingFault.IndirectWithNext, c =>
            c.PackedTx(new PD { Addr = c.Table(new PD { Addr = c.TxBuf, Len = 64 }), Len = 16, Flags = PD.FlagIndirect | PD.FlagNext }, new PD { Addr = c.TxBuf, Len = 64 }), Indirect: true, Value: "flags=0x85: INDIRECT may not be chained with NEXT"),
        new("packed: read-only descriptor on RX", true, 0, RingFault.WrongDirection, c =>
        {
            c.Packed.Rx.Ring.Desc(0).Flags &= unchecked((ushort)~PD.FlagWrite);
            c.OneTxFrame();
        }, Value: "flags=0x80: the WRITE bit is wrong"),

        // ---- memory taken away under running rings ----------------------------------------------------
        new("memory table replaced under running rings", false, 1, RingFault.RingUnmapped, c =>
        {
            int fd = LibC.memfd_create("perflab-hostile", LibC.MFD_CLOEXEC);
            try
            {
                Assert.Equal(0, LibC.ftruncate(fd, 1 << 20));
                c.Gen.Frontend.SetMemTable([new MemoryRegionDesc(0x10_0000_0000, 1 << 20, 0x7e00_0000_0000, 0)], [fd]);
            }
            finally
            {
                LibC.close(fd);
            }
        }, Log: ["SET_MEM_TABLE: vring 1 desc_user_addr=", "not inside one memory region", "in the new table; ring marked broken"]),
        new("the region holding the rings removed (REM_MEM_REG)", false, 1, RingFault.RingUnmapped, c =>
            c.Gen.Frontend.RemMemReg(c.Gen.Ram.Regions[0].Desc),
            Log: ["REM_MEM_REG: vring 1 desc_user_addr=", "in the new table; ring marked broken"], MemSlots: true),

        // ---- a broken pair does not stop the others ---------------------------------------------------
        new("pair 0 broken, pair 1 keeps carrying traffic", false, 1, RingFault.HeadOutOfRange, c =>
        {
            c.Split.Tx.Ring.Post(300);
            c.Split.Tx.Ring.PublishNoKick();
            EventFd.Signal(c.P.KickTx);
            Assert.True(Timeouts.WaitUntil(() => c.Backend.Be.Server.Vrings[1].IsBroken, Timeouts.Short));
            Ping((PairDriver<SplitGuestRing>)c.Gen.Pairs[1], 200);
            Assert.False(c.Backend.Be.Server.Vrings[2].IsBroken || c.Backend.Be.Server.Vrings[3].IsBroken);
        }, Queues: 2, Value: "head=0x12c"),

        // ---- notifications: storms, spurious and misdirected kicks, a call fd that cannot take more ---
        new("kick storm during traffic", false, -1, RingFault.None, c =>
            c.Background(stop =>
            {
                while (!stop.IsCancellationRequested)
                {
                    for (int i = 0; i < 1000; i++)
                    {
                        EventFd.Signal(c.P.KickTx);
                        EventFd.Signal(c.P.KickRx);
                    }
                    Thread.Sleep(1);
                }
            })),
        new("ten thousand spurious kicks on idle rings", false, -1, RingFault.None, c =>
        {
            for (int i = 0; i < 10_000; i++)
            {
                EventFd.Signal(c.P.KickTx);
                EventFd.Signal(c.P.KickRx);
            }
        }),
        new("kicks on rings that are not configured", false, -1, RingFault.None, c =>
        {
            int kick = EventFd.Create();
            try
            {
                c.Gen.Frontend.SetVringKick(3, kick);
                for (int i = 0; i < 10_000; i++)
                {
                    EventFd.Signal(kick);
                }
                Assert.False(c.Backend.Be.Server.Vrings[3].Started);
            }
            finally
            {
                LibC.close(kick);
            }
        }),
        new("a blocking call fd the guest filled to the brim", false, -1, RingFault.None, c =>
        {
            int call = EventFd.Create(nonBlocking: false);
            try
            {
                ulong brim = 0xFFFF_FFFF_FFFF_FFFE;
                Assert.Equal(8, (int)LibC.write(call, &brim, 8));
                c.Gen.Frontend.SetVringCall(0, call);
                c.Gen.Frontend.SetVringCall(1, call);
                Ping(c.Split, 50);
                // The control plane still pauses and resumes the worker.
                c.Gen.Frontend.SetVringCall(0, c.P.CallRx);
                c.Gen.Frontend.SetVringCall(1, c.P.CallTx);
            }
            finally
            {
                LibC.close(call);
            }
        }),
    ];

    /// <summary>Sends <paramref name="frames"/> frames one at a time on a split pair, by hand,
    /// and checks each comes back on its RX with its sequence number; every wait bounded.</summary>
    private static void Ping(PairDriver<SplitGuestRing> p, int frames)
    {
        for (int i = 0; i < frames; i++)
        {
            ulong seq = 0x5EED_0000UL + (ulong)i;
            p.StampTx(2, seq, 0);
            p.Tx.Ring.Post(2);
            p.Tx.Ring.PublishNoKick();
            EventFd.Signal(p.KickTx);
            Assert.True(Timeouts.WaitUntil(() => p.Tx.Ring.UsedAvailable() > 0 && p.Rx.Ring.UsedAvailable() > 0, Timeouts.Short),
                $"pair {p.Index}: frame {i} did not come back");
            Assert.Equal(2u, p.Tx.Ring.TakeUsed().Id);
            VirtqUsedElem rx = p.Rx.Ring.TakeUsed();
            Assert.Equal(seq, Unsafe.ReadUnaligned<ulong>(p.RxFrame(rx.Id) + FrameLayout.SeqOffset));
            p.Rx.Ring.Post((ushort)rx.Id);
            p.Rx.Ring.PublishNoKick();
        }
    }

    public static TheoryData<string> Cases() => CaseRunner.Names(s_cases.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(Cases))]
    public void HostileGuest(string name)
    {
        Case c = s_cases.Single(x => x.Name == name);
        string[]? log = c.Fault == RingFault.None ? null
            : c.Log ?? [$"vring {c.Ring} (pair {c.Ring / 2}) marked broken: {c.Fault}: ", c.Value ?? ""];
        CaseRunner.Run(backend, name, 1, log, () =>
        {
            var o = Traffic.Quick(backend.SocketPath) with
            {
                DurationS = 0.2,
                WarmupS = 0.02,
                Packed = c.Packed,
                Indirect = c.Indirect,
                Queues = c.Queues,
                MemSlots = c.MemSlots,
            };
            using var gen = new LoadGenerator(o);
            gen.Setup();
            Vring[] rings = backend.Be.Server.Vrings;
            Assert.True(Timeouts.WaitUntil(() => rings.Take(2 * c.Queues).All(v => v.IsActive), Timeouts.Short), "the rings did not start");
            var ctx = new Ctx(gen, backend);
            if (c.Fault == RingFault.None)
            {
                c.Act(ctx);
                LoadGenResult r = gen.Run();
                ctx.StopBackground();
                Traffic.AssertIntact(r);
                Assert.All(rings, v => Assert.False(v.IsBroken, $"{v} broke"));
                return;
            }
            Vring v = rings[c.Ring];
            long faults = v.Counters.Faults;
            PairDriver p = gen.Pairs[c.Ring / 2];
            int err = c.Ring % 2 == 0 ? p.ErrRx : p.ErrTx;
            c.Act(ctx);
            Assert.True(Timeouts.WaitUntil(() => v.IsBroken, Timeouts.Short), $"vring {c.Ring} was not marked broken");
            Assert.Equal(c.Fault, v.Fault);
            Assert.True(Timeouts.WaitUntil(() => EventFd.Drain(err) > 0, Timeouts.Short), "the err fd was not signalled");
            Assert.Equal(faults + 1, v.Counters.Faults);
            Assert.Equal((ulong)VirtioStatus.DeviceNeedsReset, gen.Frontend.GetStatus() & (ulong)VirtioStatus.DeviceNeedsReset);
        });
    }
}

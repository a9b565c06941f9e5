using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Backend.Rings;

/// <summary>The split layout: descriptor table, avail ring, used ring
/// (docs/protocol.md#split-ring-layout).</summary>
internal sealed class SplitVringLayout : VringLayout
{
    public override string Name => "split";

    public override string? CheckSize(uint num) => SplitLayout.IsValidSize(num)
        ? null
        : $"split ring size must be a power of two in 1..{SplitLayout.MaxQueueSize}";

    public override RingAddressError? CheckSyntax(in VringAddr a) => RingAddresses.CheckSyntax(a);

    public override RingAddressError? CheckBase(uint value, uint num) =>
        value > 0xFFFF ? new("num", value, "split ring index is 16 bits") : null;

    public override RingAddressError? CheckInMemory(GuestMemory mem, in VringAddr a, uint num) =>
        RingAddresses.CheckSplit(mem, a, num);

    public override RingAddressError? Attach(Vring v, GuestMemory mem, ulong f, out bool resynced)
    {
        resynced = false;
        RingAddressError? e = RingAddresses.CheckSyntax(v.Addr) ?? RingAddresses.AttachSplit(mem, v.Addr, v.Num, (ushort)v.Base,
            VirtioFeatures.Has(f, VirtioFeatures.RingEventIdx), VirtioFeatures.Has(f, VirtioFeatures.RingIndirectDesc),
            ref v.Split, out resynced, VirtioFeatures.Has(f, VirtioFeatures.InOrder));
        if (e == null)
        {
            v.Layout = this;
        }
        return e;
    }

    public override RingAddressError? Retranslate(Vring v, GuestMemory mem) =>
        RingAddresses.RetranslateSplit(mem, v.Addr, v.Num, ref v.Split);

    public override void SetUsedLog(Vring v, DirtyLog? log) => v.Split.SetUsedLog(log, v.UsedLogGpa);

    public override RingFault Fault(Vring v) => v.Split.Fault;

    public override ulong FaultValue(Vring v) => v.Split.FaultValue;

    public override void SetFault(Vring v, RingFault fault) => v.Split.Fault = fault;

    public override uint NextAvailForBase(Vring v) => v.Split.LastAvail;

    public override TResult Specialise<TResult>(IVringLayoutUser<TResult> user) => user.Use<SplitRing, SplitAccess>();
}

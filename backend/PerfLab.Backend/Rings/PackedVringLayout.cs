using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Backend.Rings;

/// <summary>The packed layout: one descriptor ring and two event suppression areas, carried in
/// SET_VRING_ADDR's desc, avail and used fields (docs/protocol.md#packed-ring-layout).</summary>
internal sealed class PackedVringLayout : VringLayout
{
    public override string Name => "packed";

    public override string? CheckSize(uint num) => PackedLayout.IsValidSize(num)
        ? null
        : $"packed ring size must be 1..{PackedLayout.MaxQueueSize}";

    public override RingAddressError? CheckSyntax(in VringAddr a) => PackedRingAddresses.CheckSyntax(a);

    /// <summary>Bits 0-14 avail index, 15 avail wrap, 16-30 used index, 31 used wrap.</summary>
    public override RingAddressError? CheckBase(uint value, uint num) =>
        PackedRingAddresses.CheckBase(value, num != 0 ? num : PackedLayout.MaxQueueSize);

    public override RingAddressError? CheckInMemory(GuestMemory mem, in VringAddr a, uint num) =>
        PackedRingAddresses.CheckPacked(mem, a, num);

    public override RingAddressError? Attach(Vring v, GuestMemory mem, ulong f, out bool resynced)
    {
        resynced = false;
        RingAddressError? e = PackedRingAddresses.CheckSyntax(v.Addr) ?? PackedRingAddresses.AttachPacked(mem, v.Addr, v.Num, v.Base,
            VirtioFeatures.Has(f, VirtioFeatures.RingEventIdx), VirtioFeatures.Has(f, VirtioFeatures.RingIndirectDesc),
            ref v.Packed, out resynced, inOrder: VirtioFeatures.Has(f, VirtioFeatures.InOrder));
        if (e == null)
        {
            v.Layout = this;
            // Where the device writes in a packed ring, for the dirty log.
            mem.TryFvaToGpa(v.Addr.DescUserAddr, out v.PackedDescGpa);
            mem.TryFvaToGpa(v.Addr.UsedUserAddr, out v.PackedDeviceEventGpa);
        }
        return e;
    }

    public override RingAddressError? Retranslate(Vring v, GuestMemory mem) =>
        PackedRingAddresses.RetranslatePacked(mem, v.Addr, v.Num, ref v.Packed);

    public override void SetUsedLog(Vring v, DirtyLog? log) => v.Packed.SetUsedLog(log, v.PackedDescGpa, v.PackedDeviceEventGpa);

    public override RingFault Fault(Vring v) => v.Packed.Fault;

    public override ulong FaultValue(Vring v) => v.Packed.FaultValue;

    public override void SetFault(Vring v, RingFault fault) => v.Packed.Fault = fault;

    public override uint NextAvailForBase(Vring v) => v.Packed.EncodeBase();

    public override TResult Specialise<TResult>(IVringLayoutUser<TResult> user) => user.Use<PackedRing, PackedAccess>();
}

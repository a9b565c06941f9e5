using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Backend.Rings;

/// <summary>
/// Split or packed, decided once: one object per ring layout that checks a ring's
/// configuration, attaches it, re-points it after a memory-table change and reads its state.
/// The control plane asks the session's layout (from the negotiated features) while a ring is
/// being configured; a started ring keeps the layout it started with
/// (<see cref="Vring.Layout"/>). The data plane never asks: a poller is specialised for its
/// rings' layout once (<see cref="Specialise{TResult}"/>) and runs generic code over the ring
/// struct.
/// </summary>
public abstract class VringLayout
{
    public static readonly VringLayout Split = new SplitVringLayout();
    public static readonly VringLayout Packed = new PackedVringLayout();

    /// <summary>The layout the negotiated features select (VIRTIO_F_RING_PACKED).</summary>
    public static VringLayout For(ulong ackedFeatures) =>
        VirtioFeatures.Has(ackedFeatures, VirtioFeatures.RingPacked) ? Packed : Split;

    public abstract string Name { get; }

    // ---- a ring being configured --------------------------------------------------------------

    /// <summary>SET_VRING_NUM: null if <paramref name="num"/> is a valid size, else the rule.</summary>
    public abstract string? CheckSize(uint num);

    /// <summary>SET_VRING_ADDR: alignment and flags; null if fine.</summary>
    public abstract RingAddressError? CheckSyntax(in VringAddr a);

    /// <summary>SET_VRING_BASE: null if the value suits a ring of <paramref name="num"/> (0:
    /// size not known yet).</summary>
    public abstract RingAddressError? CheckBase(uint value, uint num);

    /// <summary>Are the ring's parts inside <paramref name="mem"/>? Null if they are.</summary>
    public abstract RingAddressError? CheckInMemory(GuestMemory mem, in VringAddr a, uint num);

    // ---- a ring's life --------------------------------------------------------------------------

    /// <summary>Checks the configuration again (it may have been made under the other layout)
    /// and attaches the ring in <paramref name="mem"/>; on success the ring has this layout.
    /// <paramref name="resynced"/>: its base disagreed with the used position in guest memory.</summary>
    public abstract RingAddressError? Attach(Vring v, GuestMemory mem, ulong ackedFeatures, out bool resynced);

    /// <summary>Points a started ring at <paramref name="mem"/> after a memory-table change.</summary>
    public abstract RingAddressError? Retranslate(Vring v, GuestMemory mem);

    /// <summary>Where used-ring writes are logged (null: not logged).</summary>
    public abstract void SetUsedLog(Vring v, DirtyLog? log);

    public abstract RingFault Fault(Vring v);

    public abstract ulong FaultValue(Vring v);

    /// <summary>Marks a ring broken from the control plane (its memory went away).</summary>
    public abstract void SetFault(Vring v, RingFault fault);

    /// <summary>GET_VRING_BASE's value for a started ring (packed: wrap-encoded).</summary>
    public abstract uint NextAvailForBase(Vring v);

    /// <summary>Calls <paramref name="user"/> with the ring struct type of this layout and its
    /// accessor, so that the caller builds code specialised for it.</summary>
    public abstract TResult Specialise<TResult>(IVringLayoutUser<TResult> user);

    public override string ToString() => Name;
}

/// <summary>Code to specialise per ring layout (see <see cref="VringLayout.Specialise{TResult}"/>).</summary>
public interface IVringLayoutUser<out TResult>
{
    TResult Use<TRing, TAccess>()
        where TRing : struct, IDeviceRing
        where TAccess : struct, IVringAccess<TRing>;
}

/// <summary>Reaches a <see cref="Vring"/>'s ring struct of one layout by reference, as a
/// generic struct argument: the access compiles to a field address.</summary>
public interface IVringAccess<TRing> where TRing : struct, IDeviceRing
{
    static abstract ref TRing Ring(Vring v);
}

public struct SplitAccess : IVringAccess<SplitRing>
{
    public static ref SplitRing Ring(Vring v) => ref v.Split;
}

public struct PackedAccess : IVringAccess<PackedRing>
{
    public static ref PackedRing Ring(Vring v) => ref v.Packed;
}

using PerfLab.Vhost.Protocol;

namespace PerfLab.LoadGen.Frontend;

/// <summary>What the guest asks of the back-end for given options: virtio features, the
/// protocol features it would like and those a requested option cannot do without.</summary>
public static class FeatureRequest
{
    /// <summary>Features the guest wants, before intersecting with the back-end's offer.</summary>
    public static ulong Features(LoadGenOptions o) =>
        VirtioFeatures.Version1 | VirtioFeatures.ProtocolFeatures
        | (o.EventIdx ? VirtioFeatures.RingEventIdx : 0)
        | (o.Mergeable ? VirtioFeatures.NetMrgRxbuf : 0)
        | (o.Indirect ? VirtioFeatures.RingIndirectDesc : 0)
        | (o.Packed ? VirtioFeatures.RingPacked : 0)
        | (o.InOrder ? VirtioFeatures.InOrder : 0)
        | (o.Mtu > 0 ? VirtioFeatures.NetMtu : 0)
        | (o.Queues > 1 ? VirtioFeatures.NetMq : 0);

    /// <summary>Protocol features asked for; <see cref="RequiredProtocol"/> among them.</summary>
    public static ulong Protocol(LoadGenOptions o) =>
        ProtocolFeatures.Mq | ProtocolFeatures.ReplyAck | ProtocolFeatures.Status | ProtocolFeatures.BackendReq
        | RequiredProtocol(o);

    /// <summary>Protocol features the options asked for cannot do without.</summary>
    public static ulong RequiredProtocol(LoadGenOptions o) =>
        (NeedsMemSlots(o) ? ProtocolFeatures.ConfigureMemSlots : 0)
        | (o.ResetDevice ? ProtocolFeatures.ResetDevice : 0)
        | (o.Mtu > 0 ? ProtocolFeatures.NetMtu : 0)
        | (o.SendRarp ? ProtocolFeatures.Rarp : 0)
        | (o.DirtyLog ? ProtocolFeatures.LogShmfd : 0);

    public static bool NeedsMemSlots(LoadGenOptions o) => o.MemSlots || o.Regions > MemoryTableHeader.MaxRegions;
}

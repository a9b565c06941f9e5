namespace PerfLab.Vhost.Protocol;

/// <summary>Virtio feature bits, transport and virtio-net
/// (docs/protocol.md#transport-and-ring-feature-bits and docs/protocol.md#virtio-net-feature-bits),
/// as masks.</summary>
public static class VirtioFeatures
{
    // virtio-net device bits
    public const ulong NetCsum = 1UL << 0;
    public const ulong NetGuestCsum = 1UL << 1;
    public const ulong NetMtu = 1UL << 3;
    public const ulong NetMac = 1UL << 5;
    public const ulong NetMrgRxbuf = 1UL << 15;
    public const ulong NetStatus = 1UL << 16;
    public const ulong NetCtrlVq = 1UL << 17;
    public const ulong NetCtrlRx = 1UL << 18;
    public const ulong NetGuestAnnounce = 1UL << 21;
    public const ulong NetMq = 1UL << 22;

    // transport and vhost bits
    public const ulong NotifyOnEmpty = 1UL << 24;
    public const ulong LogAll = 1UL << 26;
    public const ulong AnyLayout = 1UL << 27;
    public const ulong RingIndirectDesc = 1UL << 28;
    public const ulong RingEventIdx = 1UL << 29;
    public const ulong ProtocolFeatures = 1UL << 30;
    public const ulong Version1 = 1UL << 32;
    public const ulong AccessPlatform = 1UL << 33;
    public const ulong RingPacked = 1UL << 34;
    public const ulong InOrder = 1UL << 35;

    public static bool Has(ulong features, ulong bit) => (features & bit) == bit;

    /// <summary>Names the set bits, for logs and summaries.</summary>
    public static string Describe(ulong features)
    {
        var names = new List<string>();
        foreach (var (bit, name) in Names)
        {
            if ((features & bit) != 0)
            {
                names.Add(name);
                features &= ~bit;
            }
        }
        for (int b = 0; b < 64; b++)
        {
            if ((features & (1UL << b)) != 0)
            {
                names.Add($"bit{b}");
            }
        }
        return string.Join('|', names);
    }

    private static readonly (ulong Bit, string Name)[] Names =
    [
        (NetCsum, "CSUM"), (NetGuestCsum, "GUEST_CSUM"), (NetMtu, "MTU"), (NetMac, "MAC"),
        (NetMrgRxbuf, "MRG_RXBUF"), (NetStatus, "STATUS"), (NetCtrlVq, "CTRL_VQ"), (NetCtrlRx, "CTRL_RX"),
        (NetGuestAnnounce, "GUEST_ANNOUNCE"), (NetMq, "MQ"), (NotifyOnEmpty, "NOTIFY_ON_EMPTY"),
        (LogAll, "LOG_ALL"), (AnyLayout, "ANY_LAYOUT"), (RingIndirectDesc, "INDIRECT_DESC"),
        (RingEventIdx, "EVENT_IDX"), (ProtocolFeatures, "PROTOCOL_FEATURES"), (Version1, "VERSION_1"),
        (AccessPlatform, "ACCESS_PLATFORM"), (RingPacked, "RING_PACKED"), (InOrder, "IN_ORDER"),
    ];
}

/// <summary>vhost-user protocol feature bits (docs/protocol.md#protocol-feature-bits), as
/// masks.</summary>
public static class ProtocolFeatures
{
    public const ulong Mq = 1UL << 0;
    public const ulong LogShmfd = 1UL << 1;
    public const ulong Rarp = 1UL << 2;
    public const ulong ReplyAck = 1UL << 3;
    public const ulong NetMtu = 1UL << 4;
    public const ulong BackendReq = 1UL << 5;
    public const ulong CrossEndian = 1UL << 6;
    public const ulong CryptoSession = 1UL << 7;
    public const ulong Pagefault = 1UL << 8;
    public const ulong Config = 1UL << 9;
    public const ulong BackendSendFd = 1UL << 10;
    public const ulong HostNotifier = 1UL << 11;
    public const ulong InflightShmfd = 1UL << 12;
    public const ulong ResetDevice = 1UL << 13;
    public const ulong InbandNotifications = 1UL << 14;
    public const ulong ConfigureMemSlots = 1UL << 15;
    public const ulong Status = 1UL << 16;
    public const ulong XenMmap = 1UL << 17;
    public const ulong SharedObject = 1UL << 18;
    public const ulong DeviceState = 1UL << 19;

    public static string Describe(ulong features)
    {
        string[] names =
        [
            "MQ", "LOG_SHMFD", "RARP", "REPLY_ACK", "NET_MTU", "BACKEND_REQ", "CROSS_ENDIAN", "CRYPTO_SESSION",
            "PAGEFAULT", "CONFIG", "BACKEND_SEND_FD", "HOST_NOTIFIER", "INFLIGHT_SHMFD", "RESET_DEVICE",
            "INBAND_NOTIFICATIONS", "CONFIGURE_MEM_SLOTS", "STATUS", "XEN_MMAP", "SHARED_OBJECT", "DEVICE_STATE",
        ];
        var parts = new List<string>();
        for (int b = 0; b < 64; b++)
        {
            if ((features & (1UL << b)) != 0)
            {
                parts.Add(b < names.Length ? names[b] : $"bit{b}");
            }
        }
        return string.Join('|', parts);
    }
}

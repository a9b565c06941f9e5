namespace PerfLab.Vhost.Protocol;

/// <summary>Front-end to back-end request codes (vhost-user spec;
/// docs/protocol.md#front-end-requests).</summary>
public enum VhostUserRequest : uint
{
    None = 0,
    GetFeatures = 1,
    SetFeatures = 2,
    SetOwner = 3,
    ResetOwner = 4,
    SetMemTable = 5,
    SetLogBase = 6,
    SetLogFd = 7,
    SetVringNum = 8,
    SetVringAddr = 9,
    SetVringBase = 10,
    GetVringBase = 11,
    SetVringKick = 12,
    SetVringCall = 13,
    SetVringErr = 14,
    GetProtocolFeatures = 15,
    SetProtocolFeatures = 16,
    GetQueueNum = 17,
    SetVringEnable = 18,
    SendRarp = 19,
    NetSetMtu = 20,
    SetBackendReqFd = 21,
    IotlbMsg = 22,
    SetVringEndian = 23,
    GetConfig = 24,
    SetConfig = 25,
    CreateCryptoSession = 26,
    CloseCryptoSession = 27,
    PostcopyAdvise = 28,
    PostcopyListen = 29,
    PostcopyEnd = 30,
    GetInflightFd = 31,
    SetInflightFd = 32,
    GpuSetSocket = 33,
    ResetDevice = 34,
    VringKick = 35,
    GetMaxMemSlots = 36,
    AddMemReg = 37,
    RemMemReg = 38,
    SetStatus = 39,
    GetStatus = 40,
    GetSharedObject = 41,
    SetDeviceStateFd = 42,
    CheckDeviceState = 43,
    GetShmemConfig = 44,
}

/// <summary>Header flag bits (docs/protocol.md#message-header).</summary>
[Flags]
public enum VhostUserFlags : uint
{
    None = 0,
    Version1 = 0x1,
    VersionMask = 0x3,
    Reply = 0x4,
    NeedReply = 0x8,
    KnownMask = VersionMask | Reply | NeedReply,
}

/// <summary>Bits of the u64 payload of SET_VRING_KICK/CALL/ERR.</summary>
public static class VringFile
{
    public const ulong IndexMask = 0xFF;
    public const ulong NoFdFlag = 0x100;
}

/// <summary>virtio device status byte (docs/protocol.md#device-status-byte).</summary>
[Flags]
public enum VirtioStatus : byte
{
    None = 0,
    Acknowledge = 1,
    Driver = 2,
    DriverOk = 4,
    FeaturesOk = 8,
    Suspend = 16,
    DeviceNeedsReset = 64,
    Failed = 128,
}

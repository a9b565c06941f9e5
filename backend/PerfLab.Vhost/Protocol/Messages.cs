using System.Runtime.InteropServices;

namespace PerfLab.Vhost.Protocol;

// Payload layouts, byte for byte as on the wire (docs/protocol.md#payload-layouts). Every struct is
// Pack = 1 because the payload follows a 12-byte header, so its u64 fields are unaligned.

/// <summary>The 12-byte message header.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct VhostUserHeader
{
    public const int Size = 12;

    /// <summary>No net payload exceeds 264 + 8 bytes; rust-vmm caps at 4096 and so do we.</summary>
    public const uint MaxPayload = 4096;

    public VhostUserRequest Request;
    public VhostUserFlags Flags;
    public uint PayloadSize;

    public VhostUserHeader(VhostUserRequest request, VhostUserFlags flags, uint payloadSize)
    {
        Request = request;
        Flags = flags;
        PayloadSize = payloadSize;
    }

    public readonly uint Version => (uint)(Flags & VhostUserFlags.VersionMask);
    public readonly bool IsReply => (Flags & VhostUserFlags.Reply) != 0;
    public readonly bool NeedsReply => (Flags & VhostUserFlags.NeedReply) != 0;

    public override readonly string ToString() => $"{Request}(flags=0x{(uint)Flags:x}, size={PayloadSize})";
}

/// <summary>A plain u64 payload (features, status, MTU, vring file, ...).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct VhostUserU64
{
    public ulong Value;
    public VhostUserU64(ulong value) => Value = value;
}

/// <summary>vring state: index and num (SET_VRING_NUM/BASE/ENABLE, GET_VRING_BASE).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct VringState
{
    public uint Index;
    public uint Num;

    public VringState(uint index, uint num)
    {
        Index = index;
        Num = num;
    }
}

/// <summary>SET_VRING_ADDR: front-end virtual addresses. Note the order: desc, used, avail.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct VringAddr
{
    public const uint FlagLog = 0x1;

    public uint Index;
    public uint Flags;
    public ulong DescUserAddr;
    public ulong UsedUserAddr;
    public ulong AvailUserAddr;
    public ulong LogGuestAddr;
}

/// <summary>One memory region (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct MemoryRegionDesc
{
    public ulong GuestPhysAddr;
    public ulong MemorySize;
    public ulong UserspaceAddr;
    public ulong MmapOffset;

    public MemoryRegionDesc(ulong gpa, ulong size, ulong userAddr, ulong mmapOffset)
    {
        GuestPhysAddr = gpa;
        MemorySize = size;
        UserspaceAddr = userAddr;
        MmapOffset = mmapOffset;
    }

    public override readonly string ToString() =>
        $"gpa=0x{GuestPhysAddr:x} size=0x{MemorySize:x} uaddr=0x{UserspaceAddr:x} offset=0x{MmapOffset:x}";
}

/// <summary>SET_MEM_TABLE prefix: nregions, padding; followed by nregions regions.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct MemoryTableHeader
{
    public const int Size = 8;
    public const int MaxRegions = 8;

    public uint NumRegions;
    public uint Padding;
}

/// <summary>ADD_MEM_REG / REM_MEM_REG: padding then one region (40 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct SingleMemRegion
{
    public ulong Padding;
    public MemoryRegionDesc Region;
}

/// <summary>SET_LOG_BASE payload (QEMU sends the 16-byte struct).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct LogDesc
{
    public ulong MmapSize;
    public ulong MmapOffset;
}

/// <summary>GET/SET_INFLIGHT_FD payload (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct InflightDesc
{
    public ulong MmapSize;
    public ulong MmapOffset;
    public ushort NumQueues;
    public ushort QueueSize;
    public uint Padding;
}

/// <summary>GET/SET_CONFIG prefix (12 bytes), followed by Size bytes of config space.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct ConfigHeader
{
    public const int Size = 12;
    public const uint MaxConfigSize = 256;

    public uint Offset;
    public uint ConfigSize;
    public uint Flags;
}

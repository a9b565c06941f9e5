using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PerfLab.Vhost.Protocol;

/// <summary>
/// Encodes and decodes vhost-user messages and checks their syntax: the header, the payload
/// size against the request's struct, and the number of fds the request may carry. Semantic
/// checks (ring sizes, addresses, order) belong to the handler. Host byte order (LE).
/// </summary>
public static class MessageCodec
{
    /// <summary>The highest request code we know; anything above is rejected.</summary>
    public const VhostUserRequest MaxKnownRequest = VhostUserRequest.GetShmemConfig;

    /// <summary>Most fds any request may carry (SET_MEM_TABLE with 8 regions).</summary>
    public const int MaxFds = 8;

    public static VhostUserHeader ReadHeader(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < VhostUserHeader.Size)
        {
            throw new VhostProtocolException(VhostUserRequest.None, "header length", (ulong)bytes.Length, $"a header is {VhostUserHeader.Size} bytes");
        }
        return MemoryMarshal.Read<VhostUserHeader>(bytes);
    }

    /// <summary>Validates a request header received by the back-end.</summary>
    public static void ValidateRequestHeader(in VhostUserHeader h)
    {
        if (h.Request == VhostUserRequest.None || h.Request > MaxKnownRequest)
        {
            throw new VhostProtocolException(h.Request, "request", (ulong)h.Request, $"known requests are 1..{(uint)MaxKnownRequest}");
        }
        if (h.Version != 1)
        {
            throw new VhostProtocolException(h.Request, "flags.version", h.Version, "must be 1");
        }
        if ((h.Flags & ~VhostUserFlags.KnownMask) != 0)
        {
            throw new VhostProtocolException(h.Request, "flags", (uint)h.Flags, "only version, REPLY and NEED_REPLY bits are defined");
        }
        if (h.IsReply)
        {
            throw new VhostProtocolException(h.Request, "flags.REPLY", (uint)h.Flags, "a request must not carry the REPLY flag");
        }
        if (h.PayloadSize > VhostUserHeader.MaxPayload)
        {
            throw new VhostProtocolException(h.Request, "size", h.PayloadSize, $"at most {VhostUserHeader.MaxPayload} bytes");
        }
    }

    /// <summary>Validates a reply header received by the front-end for <paramref name="expected"/>.</summary>
    public static void ValidateReplyHeader(in VhostUserHeader h, VhostUserRequest expected)
    {
        if (h.Request != expected)
        {
            throw new VhostProtocolException(expected, "reply.request", (ulong)h.Request, $"reply must echo {RequestNames.Of(expected)}");
        }
        if (h.Flags != (VhostUserFlags.Version1 | VhostUserFlags.Reply))
        {
            throw new VhostProtocolException(expected, "reply.flags", (uint)h.Flags, "reply flags must be exactly 0x5");
        }
        if (h.PayloadSize > VhostUserHeader.MaxPayload)
        {
            throw new VhostProtocolException(expected, "reply.size", h.PayloadSize, $"at most {VhostUserHeader.MaxPayload} bytes");
        }
    }

    /// <summary>
    /// The payload size a request must have, or -1 when it varies (SET_MEM_TABLE, GET/SET_CONFIG,
    /// crypto, device state). Checked before any body is interpreted.
    /// </summary>
    public static int FixedPayloadSize(VhostUserRequest r) => r switch
    {
        VhostUserRequest.GetFeatures or VhostUserRequest.SetOwner or VhostUserRequest.ResetOwner
            or VhostUserRequest.GetProtocolFeatures or VhostUserRequest.GetQueueNum
            or VhostUserRequest.SetBackendReqFd or VhostUserRequest.ResetDevice
            or VhostUserRequest.GetMaxMemSlots or VhostUserRequest.GetStatus
            or VhostUserRequest.PostcopyAdvise or VhostUserRequest.PostcopyListen
            or VhostUserRequest.PostcopyEnd or VhostUserRequest.CheckDeviceState
            or VhostUserRequest.GetShmemConfig or VhostUserRequest.GpuSetSocket
            or VhostUserRequest.SetLogFd => 0,
        VhostUserRequest.SetFeatures or VhostUserRequest.SetProtocolFeatures
            or VhostUserRequest.SetVringKick or VhostUserRequest.SetVringCall
            or VhostUserRequest.SetVringErr or VhostUserRequest.SendRarp
            or VhostUserRequest.NetSetMtu or VhostUserRequest.SetStatus
            or VhostUserRequest.CloseCryptoSession => 8,
        VhostUserRequest.SetVringNum or VhostUserRequest.SetVringBase or VhostUserRequest.GetVringBase
            or VhostUserRequest.SetVringEnable or VhostUserRequest.SetVringEndian
            or VhostUserRequest.VringKick => 8,
        VhostUserRequest.SetVringAddr => Unsafe.SizeOf<VringAddr>(),
        VhostUserRequest.SetLogBase => Unsafe.SizeOf<LogDesc>(),
        VhostUserRequest.AddMemReg or VhostUserRequest.RemMemReg => Unsafe.SizeOf<SingleMemRegion>(),
        VhostUserRequest.GetInflightFd or VhostUserRequest.SetInflightFd => Unsafe.SizeOf<InflightDesc>(),
        VhostUserRequest.IotlbMsg => 32,
        VhostUserRequest.GetSharedObject => 16,
        VhostUserRequest.SetDeviceStateFd => 8,
        _ => -1,
    };

    /// <summary>How many fds a request may carry: (min, max). Anything else is rejected.</summary>
    public static (int Min, int Max) FdRange(VhostUserRequest r, ReadOnlySpan<byte> payload) => r switch
    {
        VhostUserRequest.SetMemTable => (0, MemoryTableHeader.MaxRegions), // must equal nregions, checked by the handler
        VhostUserRequest.SetLogBase or VhostUserRequest.SetLogFd or VhostUserRequest.SetBackendReqFd
            or VhostUserRequest.AddMemReg or VhostUserRequest.SetInflightFd
            or VhostUserRequest.GpuSetSocket or VhostUserRequest.SetDeviceStateFd => (1, 1),
        VhostUserRequest.SetVringKick or VhostUserRequest.SetVringCall or VhostUserRequest.SetVringErr =>
            payload.Length == 8 && (MemoryMarshal.Read<ulong>(payload) & VringFile.NoFdFlag) != 0 ? (0, 0) : (1, 1),
        // The spec lets a back-end accept and close a stray fd on REM_MEM_REG (buggy front-ends).
        VhostUserRequest.RemMemReg => (0, 1),
        _ => (0, 0),
    };

    /// <summary>Checks the payload length for <paramref name="h"/> and throws if it is wrong.</summary>
    public static void ValidatePayloadSize(in VhostUserHeader h)
    {
        int expected = FixedPayloadSize(h.Request);
        if (expected >= 0)
        {
            // GET_VRING_BASE and GET_FEATURES-style requests: QEMU sends exactly the struct.
            // A zero-size SET_LOG_BASE is not allowed either: we need the mmap size.
            if (h.PayloadSize != expected)
            {
                throw new VhostProtocolException(h.Request, "size", h.PayloadSize, $"must be exactly {expected} bytes");
            }
            return;
        }
        switch (h.Request)
        {
            case VhostUserRequest.SetMemTable:
                if (h.PayloadSize < MemoryTableHeader.Size
                    || (h.PayloadSize - MemoryTableHeader.Size) % 32 != 0
                    || (h.PayloadSize - MemoryTableHeader.Size) / 32 > MemoryTableHeader.MaxRegions)
                {
                    throw new VhostProtocolException(h.Request, "size", h.PayloadSize, $"must be 8 + 32*n with n <= {MemoryTableHeader.MaxRegions}");
                }
                break;
            case VhostUserRequest.GetConfig:
            case VhostUserRequest.SetConfig:
                if (h.PayloadSize < ConfigHeader.Size || h.PayloadSize > ConfigHeader.Size + ConfigHeader.MaxConfigSize)
                {
                    throw new VhostProtocolException(h.Request, "size", h.PayloadSize, $"must be 12..{12 + ConfigHeader.MaxConfigSize}");
                }
                break;
        }
    }

    /// <summary>Reads a fixed-size payload struct; the size must match exactly.</summary>
    public static T ReadPayload<T>(VhostUserRequest request, ReadOnlySpan<byte> payload) where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>();
        if (payload.Length != size)
        {
            throw new VhostProtocolException(request, "size", (ulong)payload.Length, $"must be exactly {size} bytes");
        }
        return MemoryMarshal.Read<T>(payload);
    }

    /// <summary>Writes header + payload into <paramref name="dst"/>; returns the byte count.</summary>
    public static int Write<T>(Span<byte> dst, VhostUserRequest request, VhostUserFlags flags, in T payload) where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>();
        var h = new VhostUserHeader(request, flags, (uint)size);
        MemoryMarshal.Write(dst, in h);
        MemoryMarshal.Write(dst[VhostUserHeader.Size..], in payload);
        return VhostUserHeader.Size + size;
    }

    /// <summary>Writes a header and a raw payload; returns the byte count.</summary>
    public static int Write(Span<byte> dst, VhostUserRequest request, VhostUserFlags flags, ReadOnlySpan<byte> payload)
    {
        var h = new VhostUserHeader(request, flags, (uint)payload.Length);
        MemoryMarshal.Write(dst, in h);
        payload.CopyTo(dst[VhostUserHeader.Size..]);
        return VhostUserHeader.Size + payload.Length;
    }

    /// <summary>Validates a memory region syntactically: non-zero size, nothing overflows.</summary>
    public static void ValidateRegion(VhostUserRequest request, in MemoryRegionDesc r, int index)
    {
        string f = index >= 0 ? $"regions[{index}]" : "region";
        if (r.MemorySize == 0)
        {
            throw new VhostProtocolException(request, $"{f}.memory_size", 0, "must be non-zero");
        }
        if (r.GuestPhysAddr + r.MemorySize < r.GuestPhysAddr)
        {
            throw new VhostProtocolException(request, $"{f}.guest_phys_addr+memory_size", r.GuestPhysAddr, "overflows 64 bits");
        }
        if (r.UserspaceAddr + r.MemorySize < r.UserspaceAddr)
        {
            throw new VhostProtocolException(request, $"{f}.userspace_addr+memory_size", r.UserspaceAddr, "overflows 64 bits");
        }
        if (r.MmapOffset + r.MemorySize < r.MmapOffset || r.MmapOffset + r.MemorySize > long.MaxValue)
        {
            throw new VhostProtocolException(request, $"{f}.mmap_offset+memory_size", r.MmapOffset, "overflows a file offset");
        }
    }
}

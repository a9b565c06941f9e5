using System.Runtime.InteropServices;

namespace PerfLab.Vhost.Virtq;

/// <summary>
/// One buffer taken from a ring on the burst fast path: a chain of exactly one descriptor,
/// translated and checked. Bursts of these are what Linux and DPDK drivers post; anything
/// longer (several descriptors, an indirect table) goes through <see cref="DescChain"/>.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct BufRef
{
    public byte* Ptr;
    /// <summary>Buffer length when taken; the device may overwrite it with the bytes it wrote
    /// before handing the burst to <see cref="IDeviceRing.PushUsedBurst"/>.</summary>
    public uint Len;
    public ushort Id;
    public ushort Slots;
    public ulong Gpa;
}

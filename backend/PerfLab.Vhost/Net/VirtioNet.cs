using System.Runtime.InteropServices;
using PerfLab.Vhost.Protocol;

namespace PerfLab.Vhost.Net;

/// <summary>The virtio-net header that starts every TX and RX buffer
/// (docs/protocol.md#the-virtio-net-header).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct VirtioNetHeader
{
    public const byte FlagNeedsCsum = 1;
    public const byte FlagDataValid = 2;
    public const byte GsoNone = 0;

    public byte Flags;
    public byte GsoType;
    public ushort HdrLen;
    public ushort GsoSize;
    public ushort CsumStart;
    public ushort CsumOffset;
    public ushort NumBuffers;

    /// <summary>
    /// Header length for the negotiated features: 12 bytes with VERSION_1 or MRG_RXBUF, else the
    /// legacy 10 bytes (no num_buffers).
    /// </summary>
    public static int SizeFor(ulong features) =>
        (features & (VirtioFeatures.Version1 | VirtioFeatures.NetMrgRxbuf)) != 0 ? 12 : 10;
}

/// <summary>virtio-net queue numbering (docs/protocol.md#queue-numbering): rx_i = 2i,
/// tx_i = 2i + 1.</summary>
public static class NetQueues
{
    public static int Rx(int pair) => 2 * pair;
    public static int Tx(int pair) => 2 * pair + 1;
    public static bool IsTx(int queueIndex) => (queueIndex & 1) == 1;
    public static int PairOf(int queueIndex) => queueIndex / 2;

    /// <summary>At most 128 pairs: the vring file index is 8 bits (256 rings).</summary>
    public const int MaxQueuePairs = 128;
    public const int MaxRings = 2 * MaxQueuePairs;
}

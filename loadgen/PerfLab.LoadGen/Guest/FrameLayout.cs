using System.Buffers.Binary;

namespace PerfLab.LoadGen.Guest;

/// <summary>
/// What the load generator puts in a frame. After the virtio-net header: an Ethernet header
/// (dst 02:00:00:00:00:02, src 02:00:00:00:pp:01 for pair pp, ethertype 0x88B5, IEEE local
/// experimental), then a 24-byte probe: magic "PLAB", pair, sequence number, send timestamp
/// (Clock ticks; the scheduled time in open-loop mode). The rest is a fixed pattern written
/// once, so only 24 bytes are written per frame (as DPDK's txonly writes only headers).
/// </summary>
public static class FrameLayout
{
    public const int EthHeader = 14;
    public const int ProbeOffset = EthHeader;        // within the frame
    public const int SeqOffset = ProbeOffset + 8;    // u64
    public const int StampOffset = ProbeOffset + 16; // i64
    public const int ProbeSize = 24;
    public const int MinFrame = EthHeader + ProbeSize;
    public const uint Magic = 0x42414C50;            // "PLAB" little-endian
    public const ushort EtherType = 0x88B5;

    public static readonly byte[] DstMac = [0x02, 0, 0, 0, 0, 0x02];

    public static void SrcMac(Span<byte> mac, int pair)
    {
        mac[0] = 0x02;
        mac[1] = 0;
        mac[2] = 0;
        mac[3] = 0;
        mac[4] = (byte)pair;
        mac[5] = 0x01;
    }

    /// <summary>The pattern byte at <paramref name="offset"/> of the frame's tail.</summary>
    public static byte Pattern(int offset) => (byte)(offset * 7 + 1);

    /// <summary>Writes a whole frame template (headers, probe with seq 0, pattern).</summary>
    public static void WriteTemplate(Span<byte> frame, int pair)
    {
        DstMac.CopyTo(frame);
        SrcMac(frame[6..], pair);
        BinaryPrimitives.WriteUInt16BigEndian(frame[12..], EtherType);
        BinaryPrimitives.WriteUInt32LittleEndian(frame[ProbeOffset..], Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(frame[(ProbeOffset + 4)..], (ushort)pair);
        BinaryPrimitives.WriteUInt16LittleEndian(frame[(ProbeOffset + 6)..], 0);
        for (int i = MinFrame; i < frame.Length; i++)
        {
            frame[i] = Pattern(i);
        }
    }
}

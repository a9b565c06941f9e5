namespace PerfLab.Backend.Devices;

/// <summary>The RARP frame DPDK's vhost builds for SEND_RARP (60 bytes, padded).</summary>
public static class RarpFrame
{
    public static void Build(Span<byte> frame, ReadOnlySpan<byte> mac)
    {
        frame.Clear();
        frame[..6].Fill(0xff);                  // broadcast destination
        mac[..6].CopyTo(frame[6..]);            // source: the guest's MAC
        frame[12] = 0x80;
        frame[13] = 0x35;                       // ethertype RARP
        frame[14] = 0x00; frame[15] = 0x01;     // hardware type Ethernet
        frame[16] = 0x08; frame[17] = 0x00;     // protocol IPv4
        frame[18] = 6;                          // hardware address length
        frame[19] = 4;                          // protocol address length
        frame[20] = 0x00; frame[21] = 0x03;     // opcode: reverse request
        mac[..6].CopyTo(frame[22..]);           // sender hardware address
        mac[..6].CopyTo(frame[32..]);           // target hardware address
    }
}

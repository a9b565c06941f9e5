namespace PerfLab.Fuzz;

/// <summary>Builds <see cref="DoubleFetchTarget"/> inputs: a ring seed, prefixed with the
/// fields the racing writer toggles.</summary>
public static class DoubleFetchSeeds
{
    public static IEnumerable<(string Name, byte[] Input)> All()
    {
        var ring = RingSeeds.All().ToDictionary(s => s.Name, s => s.Input);
        const int splitAvail = RingInput.TxRing + 0x100; // flags, idx
        // The avail index (2 <-> 0xfffd: a jump past the queue) and descriptor 0's flags and
        // next (NEXT to 1 <-> a chain into nowhere) change while the device walks.
        yield return ("split-avail-index-and-next", Prefix(ring["split-loopback"],
            (splitAvail, [0, 0, 2, 0]), (RingInput.TxRing + 12, [0, 0, 1, 0])));
        // The indirect table's descriptor: its length (32 <-> huge) and address.
        yield return ("split-indirect-length", Prefix(ring["split-features"],
            (RingInput.TxRing + 2 * 16 + 8, [32, 0, 0, 0]), (RingInput.Table + 8, [12, 0, 0, 0])));
        // Packed: the first descriptors' id and flags (AVAIL/USED wrap bits, NEXT, INDIRECT).
        yield return ("packed-flags-and-id", Prefix(ring["packed-chains"],
            (RingInput.TxRing + 12, [0, 0, 0x81, 0]), (RingInput.TxRing + 16 + 12, [0, 0, 0x80, 0])));
    }

    private static byte[] Prefix(byte[] ringInput, params (int FileOffset, byte[] Bytes)[] writes)
    {
        var o = new FuzzOutput().U8(writes.Length);
        foreach (var (off, bytes) in writes)
        {
            o.U16(off >> 2).U8(bytes.Length).Raw(bytes);
        }
        return o.Raw(ringInput).ToArray();
    }
}

namespace PerfLab.Fuzz;

/// <summary>
/// Target 3, double fetch: a <see cref="RingTarget"/> input while a second thread (the guest's
/// other vCPU) keeps rewriting descriptors and indices under the device. The input starts with
/// the writer's program: up to 16 writes, each toggled between its bytes and their complement
/// on every pass, so a field the device reads twice can differ between the two reads. Whatever
/// the interleaving, the device must stay inside guest memory (every buffer it takes is checked
/// against the regions; guard pages turn a stray access into a crash), end every walk (a hang
/// is a finding), and throw nothing. Runs are not repeatable by design: afl-fuzz's stability
/// figure for this target measures the race, not a harness defect.
/// <code>
/// input := nwrites:u8 (offset:u16 len:u8 bytes[len &amp; 15]){nwrites &amp; 15} ring-input
///          offset is in 4-byte units into the guest memory file (<see cref="GuestArena.GuestWrite"/>)
/// </code>
/// </summary>
public static class DoubleFetchTarget
{
    public static void Run(ReadOnlySpan<byte> data)
    {
        var input = new FuzzInput(data);
        int n = input.U8() & 15;
        var writes = new (ulong Offset, byte[] Bytes)[n];
        for (int i = 0; i < n; i++)
        {
            ulong off = (ulong)input.U16() << 2;
            writes[i] = (off, input.Bytes(input.U8() & 15).ToArray());
        }
        ReadOnlySpan<byte> ring = data[(data.Length - input.Remaining)..];
        if (n == 0)
        {
            RingTarget.Run(ring);
            return;
        }
        var stop = new StopFlag();
        Thread? writer = null;
        try
        {
            RingTarget.Run(ring, () =>
            {
                writer = new Thread(() => Write(writes, stop)) { IsBackground = true, Name = "fuzz-guest-writer" };
                writer.Start();
            });
        }
        finally
        {
            stop.Set = true;
            if (writer != null && !writer.Join(TimeSpan.FromSeconds(5)))
            {
                throw new FuzzInvariantException("the guest writer did not stop");
            }
        }
    }

    private sealed class StopFlag
    {
        public volatile bool Set;
    }

    private static void Write((ulong Offset, byte[] Bytes)[] writes, StopFlag stop)
    {
        GuestArena arena = GuestArena.Shared;
        var flipped = writes.Select(w => w.Bytes.Select(b => (byte)~b).ToArray()).ToArray();
        for (int pass = 0; !stop.Set && pass < 1_000_000; pass++)
        {
            for (int i = 0; i < writes.Length; i++)
            {
                arena.GuestWrite(writes[i].Offset, (pass & 1) == 0 ? writes[i].Bytes : flipped[i]);
            }
        }
    }
}

using PerfLab.LoadGen.Memory;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Tests.Infrastructure;

/// <summary>
/// A split ring seen from both sides over real shared memory: the driver side writes through
/// the load generator's memfd mapping, the device side reads through the back-end's own
/// mapping of the same memfd (a second mmap), as two processes would.
/// </summary>
public sealed unsafe class RingPair : IDisposable
{
    public readonly GuestRam Ram;
    public readonly MemoryTable Table = new();
    public SplitDriverRing Driver;
    public SplitRing Device;
    public DescChain Chain = DescChain.Allocate(1024);
    public readonly ulong DescGpa, AvailGpa, UsedGpa;
    public readonly ushort Size;

    public RingPair(ushort size, bool eventIdx = false, ushort start = 0, bool indirect = true, ulong ramBytes = 4 << 20, int regions = 1, bool inOrder = false)
    {
        Size = size;
        Ram = new GuestRam(ramBytes, regions);
        var fds = Ram.Regions.Select(r => LibC.dup(r.Fd)).ToList();
        Table.Replace(VhostUserRequest.SetMemTable, Ram.Regions.Select(r => r.Desc).ToArray(), fds);
        DescGpa = Ram.Alloc((ulong)SplitLayout.DescTableBytes(size), 4096);
        AvailGpa = Ram.Alloc((ulong)SplitLayout.AvailBytes(size), 64);
        UsedGpa = Ram.Alloc((ulong)SplitLayout.UsedBytes(size), 4096);
        Driver = SplitDriverRing.Create(Ram.Host(DescGpa), Ram.Host(AvailGpa), Ram.Host(UsedGpa), size, eventIdx, start);
        var addr = Addr;
        var err = RingAddresses.AttachSplit(Table.Current, addr, size, start, eventIdx, indirect, ref Device, out _, inOrder);
        if (err != null)
        {
            throw new InvalidOperationException(err.ToString());
        }
    }

    public VringAddr Addr => new()
    {
        DescUserAddr = Ram.Fva(DescGpa),
        AvailUserAddr = Ram.Fva(AvailGpa),
        UsedUserAddr = Ram.Fva(UsedGpa),
    };

    public GuestMemory Memory => Table.Current;

    /// <summary>Allocates a buffer in guest RAM and returns its guest address.</summary>
    public ulong Buffer(int len, byte fill = 0)
    {
        ulong gpa = Ram.Alloc((ulong)len, 64);
        Ram.Span(gpa, len).Fill(fill);
        return gpa;
    }

    public ref VirtqDesc Desc(int i) => ref Driver.Desc(i);

    public void Dispose()
    {
        Chain.Free();
        Table.Dispose();
        Ram.Dispose();
    }
}

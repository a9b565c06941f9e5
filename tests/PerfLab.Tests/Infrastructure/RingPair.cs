using PerfLab.VirtioDriver;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Tests.Infrastructure;

/// <summary>A split ring seen from both sides over real shared memory (see <see cref="SharedGuestRam"/>).</summary>
public sealed unsafe class RingPair : SharedGuestRam
{
    public SplitDriverRing Driver;
    public SplitRing Device;
    public readonly ulong DescGpa, AvailGpa, UsedGpa;
    public readonly ushort Size;

    public RingPair(ushort size, bool eventIdx = false, ushort start = 0, bool indirect = true, ulong ramBytes = 4 << 20, int regions = 1, bool inOrder = false)
        : base(ramBytes, regions)
    {
        Size = size;
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

    public ref VirtqDesc Desc(int i) => ref Driver.Desc(i);
}

using PerfLab.VirtioDriver;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Tests.Infrastructure;

/// <summary>A packed ring seen from both sides over real shared memory (see <see cref="SharedGuestRam"/>).</summary>
public sealed unsafe class PackedRingPair : SharedGuestRam
{
    public PackedDriverRing Driver;
    public PackedRing Device;
    public readonly ulong DescGpa, DriverEventGpa, DeviceEventGpa;
    public readonly ushort Size;
    public readonly bool EventIdx;
    public readonly bool Indirect;
    public readonly int ScanLimit;
    public readonly bool InOrder;

    public PackedRingPair(ushort size, bool eventIdx = false, bool indirect = true, ulong ramBytes = 4 << 20, int regions = 1, int scanLimit = PackedRing.DefaultScanLimit, bool inOrder = false)
        : base(ramBytes, regions)
    {
        InOrder = inOrder;
        Size = size;
        EventIdx = eventIdx;
        Indirect = indirect;
        ScanLimit = scanLimit;
        DescGpa = Ram.Alloc((ulong)PackedLayout.DescRingBytes(size), 4096);
        DriverEventGpa = Ram.Alloc(PackedLayout.EventBytes, 64);
        DeviceEventGpa = Ram.Alloc(PackedLayout.EventBytes, 64);
        Driver = PackedDriverRing.Create(Ram.Host(DescGpa), Ram.Host(DriverEventGpa), Ram.Host(DeviceEventGpa), size, eventIdx);
        Attach(PackedBase.Fresh);
    }

    /// <summary>SET_VRING_ADDR for this ring: avail = driver event area, used = device event area.</summary>
    public VringAddr Addr => new()
    {
        DescUserAddr = Ram.Fva(DescGpa),
        AvailUserAddr = Ram.Fva(DriverEventGpa),
        UsedUserAddr = Ram.Fva(DeviceEventGpa),
    };

    /// <summary>Attaches a new device side at <paramref name="encodedBase"/> (a ring restart).</summary>
    public bool Attach(uint encodedBase)
    {
        var err = PackedRingAddresses.AttachPacked(Memory, Addr, Size, encodedBase, EventIdx, Indirect, ref Device, out bool resynced, ScanLimit, InOrder);
        if (err != null)
        {
            throw new InvalidOperationException(err.ToString());
        }
        return resynced;
    }

    public ref PackedDesc Desc(int i) => ref Driver.Desc(i);
}

using PerfLab.LoadGen.Memory;
using PerfLab.VirtioDriver;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Bench.Micro;

/// <summary>
/// A split ring over real memfd guest memory, seen from both sides in one process: the
/// driver writes through the load generator's mapping, the device reads through its own
/// mapping of the same fds (as the back-end process would).
/// </summary>
public sealed unsafe class RingFixture : IDisposable
{
    public readonly GuestRam Ram;
    public readonly MemoryTable Table = new();
    public SplitDriverRing Driver;
    public SplitRing Device;
    public readonly ulong DescGpa;
    public readonly ushort Size;

    public RingFixture(ushort size, int regions = 1, ulong ramBytes = 8 << 20)
    {
        Size = size;
        Ram = new GuestRam(ramBytes, regions);
        var fds = Ram.Regions.Select(r => LibC.dup(r.Fd)).ToList();
        Table.Replace(VhostUserRequest.SetMemTable, Ram.Regions.Select(r => r.Desc).ToArray(), fds);
        DescGpa = Ram.Alloc((ulong)SplitLayout.DescTableBytes(size), 4096);
        ulong avail = Ram.Alloc((ulong)SplitLayout.AvailBytes(size), 64);
        ulong used = Ram.Alloc((ulong)SplitLayout.UsedBytes(size), 4096);
        Driver = SplitDriverRing.Create(Ram.Host(DescGpa), Ram.Host(avail), Ram.Host(used), size, eventIdx: true);
        var addr = new VringAddr { DescUserAddr = Ram.Fva(DescGpa), AvailUserAddr = Ram.Fva(avail), UsedUserAddr = Ram.Fva(used) };
        RingAddressError? err = RingAddresses.AttachSplit(Table.Current, addr, size, 0, eventIdx: true, indirect: true, ref Device, out _);
        if (err != null)
        {
            throw new InvalidOperationException(err.ToString());
        }
    }

    public GuestMemory Memory => Table.Current;

    /// <summary>The device's view of the descriptor table.</summary>
    public VirtqDesc* DeviceDescTable => (VirtqDesc*)Memory.TranslateGpa(DescGpa, (ulong)SplitLayout.DescTableBytes(Size));

    public void Dispose()
    {
        Table.Dispose();
        Ram.Dispose();
    }
}

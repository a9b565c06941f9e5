using PerfLab.LoadGen.Memory;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Tests.Infrastructure;

/// <summary>
/// Guest RAM seen from both sides over real shared memory, the base of the ring pairs: the
/// driver side writes through the load generator's memfd mapping, the device side reads through
/// the back-end's own mapping of the same memfd (a second mmap), as two processes would.
/// </summary>
public abstract unsafe class SharedGuestRam : IDisposable
{
    public readonly GuestRam Ram;
    public readonly MemoryTable Table = new();
    public DescChain Chain = DescChain.Allocate(1024);

    protected SharedGuestRam(ulong ramBytes, int regions)
    {
        Ram = new GuestRam(ramBytes, regions);
        var fds = Ram.Regions.Select(r => LibC.dup(r.Fd)).ToList();
        Table.Replace(VhostUserRequest.SetMemTable, Ram.Regions.Select(r => r.Desc).ToArray(), fds);
    }

    public GuestMemory Memory => Table.Current;

    /// <summary>Allocates a buffer in guest RAM and returns its guest address.</summary>
    public ulong Buffer(int len, byte fill = 0)
    {
        ulong gpa = Ram.Alloc((ulong)len, 64);
        Ram.Span(gpa, len).Fill(fill);
        return gpa;
    }

    public void Dispose()
    {
        Chain.Free();
        Table.Dispose();
        Ram.Dispose();
        GC.SuppressFinalize(this);
    }
}

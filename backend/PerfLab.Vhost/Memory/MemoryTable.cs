using PerfLab.Vhost.Protocol;

namespace PerfLab.Vhost.Memory;

/// <summary>
/// The control plane's owner of every mapped region. It validates new regions (no overlap in
/// guest-physical or front-end virtual space, slot limit), produces immutable
/// <see cref="GuestMemory"/> snapshots, and unmaps replaced regions only when told that no
/// worker can still touch them (<see cref="ReleaseRetired"/>).
/// </summary>
public sealed class MemoryTable : IDisposable
{
    /// <summary>Slots advertised with GET_MAX_MEM_SLOTS (libvhost-user and rust-vmm use 509).</summary>
    public const int MaxSlots = 509;

    private readonly List<MappedRegion> _regions = [];
    private readonly List<MappedRegion> _retired = [];

    public GuestMemory Current { get; private set; } = GuestMemory.Empty;

    public int Count => _regions.Count;

    /// <summary>Told when a front-end shrank the file of one of these regions under its mapping
    /// (<see cref="GuestMemoryFaults"/>), on the thread that caught the fault.</summary>
    public Action<MappedRegion, long>? OnRevoked { get; set; }

    private void Revoked(MappedRegion r, long size) => OnRevoked?.Invoke(r, size);

    /// <summary>
    /// Replaces the whole table (SET_MEM_TABLE). The new regions are mapped and validated before
    /// anything changes; on failure nothing changes and every fd passed is closed. The old
    /// regions are retired.
    /// </summary>
    public GuestMemory Replace(VhostUserRequest request, ReadOnlySpan<MemoryRegionDesc> regions, IReadOnlyList<int> fds)
    {
        var mapped = new List<MappedRegion>(regions.Length);
        try
        {
            for (int i = 0; i < regions.Length; i++)
            {
                mapped.Add(MappedRegion.Map(request, regions[i], fds[i], i));
                mapped[i].OnRevoked = Revoked;
            }
            CheckOverlaps(request, mapped);
        }
        catch
        {
            foreach (var m in mapped)
            {
                m.Dispose(); // closes the fd it took
            }
            for (int i = mapped.Count; i < fds.Count; i++)
            {
                Interop.LibC.CloseQuietly(fds[i]);
            }
            throw;
        }
        _retired.AddRange(_regions);
        _regions.Clear();
        _regions.AddRange(mapped);
        return Publish();
    }

    /// <summary>
    /// True if <paramref name="regions"/> and <paramref name="fds"/> describe exactly the current
    /// table (same layout, same backing files). Front-ends resend identical tables often
    /// (docs/protocol.md#memory-table-updates); those need no pause and no remap.
    /// </summary>
    public bool IsIdentical(ReadOnlySpan<MemoryRegionDesc> regions, IReadOnlyList<int> fds)
    {
        if (regions.Length != _regions.Count || fds.Count != regions.Length)
        {
            return false;
        }
        for (int i = 0; i < regions.Length; i++)
        {
            var d = _regions[i].Desc;
            var n = regions[i];
            if (d.GuestPhysAddr != n.GuestPhysAddr || d.MemorySize != n.MemorySize
                || d.UserspaceAddr != n.UserspaceAddr || d.MmapOffset != n.MmapOffset
                || !MappedRegion.SameFile(fds[i], _regions[i]))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Maps one region for ADD_MEM_REG and checks it against the slot limit and the current
    /// regions, without publishing it (the caller publishes with <see cref="Add"/> while the
    /// workers are paused). Takes ownership of <paramref name="fd"/> either way.
    /// </summary>
    public MappedRegion MapForAdd(in MemoryRegionDesc desc, int fd)
    {
        const VhostUserRequest r = VhostUserRequest.AddMemReg;
        if (_regions.Count >= MaxSlots)
        {
            Interop.LibC.CloseQuietly(fd);
            throw new VhostProtocolException(r, "slots", (ulong)_regions.Count + 1, $"at most {MaxSlots} regions (GET_MAX_MEM_SLOTS)") { Fatal = false };
        }
        MappedRegion m;
        try
        {
            m = MappedRegion.Map(r, desc, fd, -1);
            m.OnRevoked = Revoked;
        }
        catch
        {
            Interop.LibC.CloseQuietly(fd);
            throw;
        }
        try
        {
            CheckOverlaps(r, new List<MappedRegion>(_regions) { m });
        }
        catch
        {
            m.Dispose();
            throw;
        }
        return m;
    }

    /// <summary>Publishes a region mapped by <see cref="MapForAdd"/>.</summary>
    public GuestMemory Add(MappedRegion mapped)
    {
        if (_regions.Count >= MaxSlots)
        {
            mapped.Dispose();
            throw new VhostProtocolException(VhostUserRequest.AddMemReg, "slots", (ulong)_regions.Count + 1, $"at most {MaxSlots} regions") { Fatal = false };
        }
        _regions.Add(mapped);
        return Publish();
    }

    /// <summary>Adds one region (ADD_MEM_REG) in one step. Takes ownership of <paramref name="fd"/>.</summary>
    public GuestMemory Add(in MemoryRegionDesc desc, int fd) => Add(MapForAdd(desc, fd));

    /// <summary>True if exactly this region (layout and backing file) is mapped already.</summary>
    public bool Contains(in MemoryRegionDesc desc, int fd)
    {
        foreach (MappedRegion m in _regions)
        {
            var d = m.Desc;
            if (d.GuestPhysAddr == desc.GuestPhysAddr && d.MemorySize == desc.MemorySize
                && d.UserspaceAddr == desc.UserspaceAddr && d.MmapOffset == desc.MmapOffset
                && MappedRegion.SameFile(fd, m))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>True if a region matches guest address, user address and size (REM_MEM_REG's rule).</summary>
    public bool Has(in MemoryRegionDesc desc) => IndexOf(desc) >= 0;

    private int IndexOf(in MemoryRegionDesc desc)
    {
        for (int i = 0; i < _regions.Count; i++)
        {
            var d = _regions[i].Desc;
            if (d.GuestPhysAddr == desc.GuestPhysAddr && d.UserspaceAddr == desc.UserspaceAddr && d.MemorySize == desc.MemorySize)
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>
    /// Removes the region matching guest address, user address and size (REM_MEM_REG; the
    /// mmap offset is ignored, as the spec says). The region is retired, not unmapped yet.
    /// </summary>
    public GuestMemory Remove(in MemoryRegionDesc desc)
    {
        int i = IndexOf(desc);
        if (i >= 0)
        {
            _retired.Add(_regions[i]);
            _regions.RemoveAt(i);
            return Publish();
        }
        throw new VhostProtocolException(VhostUserRequest.RemMemReg, "region", desc.ToString(), "no such region is mapped") { Fatal = false };
    }

    /// <summary>Unmaps regions replaced or removed; call only once no worker can use them.</summary>
    public void ReleaseRetired()
    {
        foreach (var m in _retired)
        {
            m.Dispose();
        }
        _retired.Clear();
    }

    public int RetiredCount => _retired.Count;

    /// <summary>Drops every region (disconnect, RESET_DEVICE), retiring them.</summary>
    public GuestMemory Clear()
    {
        _retired.AddRange(_regions);
        _regions.Clear();
        return Publish();
    }

    private GuestMemory Publish()
    {
        Current = _regions.Count == 0 ? GuestMemory.Empty : new GuestMemory(_regions.ToArray());
        return Current;
    }

    private static void CheckOverlaps(VhostUserRequest request, List<MappedRegion> regions)
    {
        if (regions.Count < 2)
        {
            return;
        }
        var byGpa = regions.Select(r => r.Desc).OrderBy(d => d.GuestPhysAddr).ToArray();
        for (int i = 1; i < byGpa.Length; i++)
        {
            if (byGpa[i].GuestPhysAddr < byGpa[i - 1].GuestPhysAddr + byGpa[i - 1].MemorySize)
            {
                throw new VhostProtocolException(request, "guest_phys_addr", byGpa[i].GuestPhysAddr,
                    $"overlaps region [0x{byGpa[i - 1].GuestPhysAddr:x}, +0x{byGpa[i - 1].MemorySize:x})") { Fatal = false };
            }
        }
        var byFva = regions.Select(r => r.Desc).OrderBy(d => d.UserspaceAddr).ToArray();
        for (int i = 1; i < byFva.Length; i++)
        {
            if (byFva[i].UserspaceAddr < byFva[i - 1].UserspaceAddr + byFva[i - 1].MemorySize)
            {
                throw new VhostProtocolException(request, "userspace_addr", byFva[i].UserspaceAddr,
                    $"overlaps region [0x{byFva[i - 1].UserspaceAddr:x}, +0x{byFva[i - 1].MemorySize:x})") { Fatal = false };
            }
        }
    }

    public void Dispose()
    {
        Clear();
        ReleaseRetired();
    }
}

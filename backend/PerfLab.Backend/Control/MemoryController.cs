using System.Runtime.InteropServices;
using PerfLab.Backend.Rings;
using PerfLab.Backend.Logging;
using PerfLab.Vhost.Memory;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;

namespace PerfLab.Backend.Control;

/// <summary>
/// The memory table: SET_MEM_TABLE, and ADD_MEM_REG / REM_MEM_REG with CONFIGURE_MEM_SLOTS.
/// New regions are mapped before the pause; with the device paused the new table is published
/// and every running ring re-pointed at it; replaced regions are unmapped after the resume.
/// </summary>
internal sealed class MemoryController
{
    private readonly VhostUserSession _s;
    private readonly VringController _vrings;

    public MemoryController(VhostUserSession session, VringController vrings)
    {
        _s = session;
        _vrings = vrings;
    }

    private MemoryTable Table => _s.MemoryTable;

    public void SetMemTable(ReceivedMessage m)
    {
        const VhostUserRequest r = VhostUserRequest.SetMemTable;
        ReadOnlySpan<byte> p = m.PayloadSpan;
        MemoryTableHeader th = MemoryMarshal.Read<MemoryTableHeader>(p);
        if (th.NumRegions == 0 || th.NumRegions > MemoryTableHeader.MaxRegions)
        {
            throw new VhostProtocolException(r, "nregions", th.NumRegions, $"must be 1..{MemoryTableHeader.MaxRegions}");
        }
        if (p.Length != MemoryTableHeader.Size + 32 * (int)th.NumRegions)
        {
            throw new VhostProtocolException(r, "size", (ulong)p.Length, $"must be 8 + 32 * nregions = {8 + 32 * th.NumRegions}");
        }
        if (m.Fds.Count != th.NumRegions)
        {
            throw new VhostProtocolException(r, "fds", (ulong)m.Fds.Count, $"must equal nregions ({th.NumRegions})");
        }
        var regions = MemoryMarshal.Cast<byte, MemoryRegionDesc>(p[MemoryTableHeader.Size..]).ToArray();
        for (int i = 0; i < regions.Length; i++)
        {
            MessageCodec.ValidateRegion(r, regions[i], i);
        }
        if (Table.IsIdentical(regions, m.Fds))
        {
            _s.Logger.MemTableIdentical();
            return; // the message's fds are closed by the caller
        }
        var fds = new List<int>(m.Fds.Count);
        for (int i = 0; i < m.Fds.Count; i++)
        {
            fds.Add(m.TakeFd(i));
        }
        _s.Reconfigure(() =>
        {
            Table.Replace(r, regions, fds);
            RetranslateRings(r);
        });
        _s.MemoryChanges++;
        _s.Logger.MemoryTable(regions.Length, (long)Math.Round(regions.Sum(x => (double)x.MemorySize) / (1 << 20)));
    }

    /// <summary>ADD_MEM_REG (CONFIGURE_MEM_SLOTS): maps one more region, then, with the workers
    /// paused, publishes the new table and re-points the rings. A region identical to one
    /// already mapped (same layout, same file) is acknowledged and not mapped twice.</summary>
    public void AddMemReg(ReceivedMessage m)
    {
        const VhostUserRequest r = VhostUserRequest.AddMemReg;
        _s.Require(r, ProtocolFeatures.ConfigureMemSlots, "CONFIGURE_MEM_SLOTS");
        MemoryRegionDesc region = MessageCodec.ReadPayload<SingleMemRegion>(r, m.PayloadSpan).Region;
        MessageCodec.ValidateRegion(r, region, -1);
        if (Table.Contains(region, m.Fds[0]))
        {
            _s.Logger.RegionAlreadyMapped(region);
            return; // the fd is closed by the caller
        }
        int fd = m.TakeFd(0);
        MappedRegion mapped = Table.MapForAdd(region, fd); // maps outside the pause
        _s.Reconfigure(() =>
        {
            Table.Add(mapped);
            RetranslateRings(r);
        });
        _s.MemoryChanges++;
        _s.Logger.RegionAdded(region, Table.Count);
    }

    /// <summary>REM_MEM_REG: with the workers paused, drops the region matching guest address,
    /// user address and size (the mmap offset is ignored, as the spec says) and re-points the
    /// rings; the region is unmapped once the workers run on the new table.</summary>
    public void RemMemReg(in MemoryRegionDesc region)
    {
        const VhostUserRequest r = VhostUserRequest.RemMemReg;
        _s.Require(r, ProtocolFeatures.ConfigureMemSlots, "CONFIGURE_MEM_SLOTS");
        if (!Table.Has(region))
        {
            throw new VhostProtocolException(r, "region", region.ToString(), "no such region is mapped") { Fatal = false };
        }
        MemoryRegionDesc d = region;
        _s.Reconfigure(() =>
        {
            Table.Remove(d);
            RetranslateRings(r);
        });
        _s.MemoryChanges++;
        _s.Logger.RegionRemoved(region, Table.Count);
    }

    /// <summary>After a memory change (device paused), points every running ring at its new
    /// mapping; a ring whose memory is gone is marked broken. A ring that was waiting for memory
    /// (kick before the table) starts if its addresses are now mapped.</summary>
    private void RetranslateRings(VhostUserRequest r)
    {
        for (int i = 0; i < _s.MaxRings; i++)
        {
            Vring v = _s.Vrings[i];
            if (!v.Started)
            {
                _vrings.StartIfMapped(v, r);
                continue;
            }
            if (v.Layout!.Retranslate(v, Table.Current) is { } err)
            {
                VringFaultReporter.Unmapped(v, r, err, _s.Device.NeedsReset, _s.Logger);
            }
        }
    }
}

using PerfLab.LoadGen.Frontend;
using PerfLab.LoadGen.Guest;
using PerfLab.LoadGen.Memory;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;

namespace PerfLab.LoadGen.Exercises;

/// <summary>
/// Memory-table changes under traffic, as a front-end may make at any time: without
/// CONFIGURE_MEM_SLOTS, SET_MEM_TABLE alternating between the plain layout and one where
/// regions are split in two (same files, different mappings, so the back-end must remap and
/// re-point its rings while frames flow); with it, ADD_MEM_REG / REM_MEM_REG of an extra
/// region (memory hot-plug). Control thread only (or <see cref="Remapper"/>'s); the traffic
/// may run meanwhile.
/// </summary>
public sealed unsafe class MemoryTableChurn : IDisposable
{
    private const ulong ExtraRegionBytes = 1 << 20;

    private readonly bool _identityGpa;
    private int _changes;
    private bool _splitLayout;
    private int _extraFd = -1;
    private byte* _extraHost;
    private bool _extraAdded;

    public MemoryTableChurn(bool identityGpa) => _identityGpa = identityGpa;

    /// <summary>Memory-table changes sent so far.</summary>
    public int Changes => Volatile.Read(ref _changes);

    /// <summary>Changes the memory table once.</summary>
    public void Change(FrontendSession session, GuestNic guest)
    {
        VhostUserFrontend fe = session.Frontend;
        if (session.Has(ProtocolFeatures.ConfigureMemSlots))
        {
            if (_extraHost == null)
            {
                _extraHost = GuestRam.CreateShared("perflab-hotplug", ExtraRegionBytes, out _extraFd);
            }
            var desc = new MemoryRegionDesc(_identityGpa ? (ulong)_extraHost : (guest.Ram.EndGpa + 0xFFFFF) & ~0xFFFFFUL, ExtraRegionBytes, (ulong)_extraHost, 0);
            if (_extraAdded)
            {
                fe.RemMemReg(desc);
            }
            else
            {
                fe.AddMemReg(desc, _extraFd);
            }
            _extraAdded = !_extraAdded;
        }
        else
        {
            _splitLayout = !_splitLayout;
            var (regions, fds) = _splitLayout ? SplitLayoutTable(guest) : guest.MemTable();
            fe.SetMemTable(regions, fds);
        }
        Interlocked.Increment(ref _changes);
    }

    /// <summary>A new connection starts from the plain table, without the extra region.</summary>
    public void OnNewSession()
    {
        _extraAdded = false;
        _splitLayout = false;
    }

    /// <summary>The same memory with as many regions as fit SET_MEM_TABLE split in two at a
    /// page boundary that cuts no ring part (each part must sit in one region).</summary>
    private static (List<MemoryRegionDesc>, List<int>) SplitLayoutTable(GuestNic guest)
    {
        var regions = new List<MemoryRegionDesc>();
        var fds = new List<int>();
        var parts = guest.Pairs.SelectMany(p => p.RingParts()).ToList();
        int splittable = MemoryTableHeader.MaxRegions - guest.Ram.Regions.Count;
        foreach (GuestRam.Region r in guest.Ram.Regions)
        {
            ulong cut = splittable-- > 0 ? SafeCut(r, parts) : 0;
            if (cut == 0)
            {
                regions.Add(r.Desc);
                fds.Add(r.Fd);
                continue;
            }
            regions.Add(new MemoryRegionDesc(r.Gpa, cut, r.Fva, 0));
            regions.Add(new MemoryRegionDesc(r.Gpa + cut, r.Size - cut, r.Fva + cut, cut));
            fds.Add(r.Fd);
            fds.Add(r.Fd);
        }
        return (regions, fds);
    }

    private static ulong SafeCut(GuestRam.Region r, List<(ulong Gpa, ulong Len)> parts)
    {
        for (ulong cut = r.Size / 2 & ~(GuestRam.PageSize - 1); cut > 0 && cut < r.Size; cut += GuestRam.PageSize)
        {
            ulong at = r.Gpa + cut;
            if (!parts.Any(x => x.Gpa < at && at < x.Gpa + x.Len))
            {
                return cut;
            }
        }
        return 0;
    }

    public void Dispose()
    {
        if (_extraHost != null)
        {
            LibC.munmap((nint)_extraHost, (nuint)ExtraRegionBytes);
            _extraHost = null;
        }
        LibC.CloseQuietly(_extraFd);
        _extraFd = -1;
    }
}

/// <summary>Runs a memory-table change every interval on its own thread while traffic runs.</summary>
public sealed class Remapper : IDisposable
{
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _stop = new();
    private Exception? _error;

    public Remapper(Action change, double intervalMs)
    {
        _thread = new Thread(() =>
        {
            try
            {
                while (!_stop.Wait(TimeSpan.FromMilliseconds(intervalMs)))
                {
                    change();
                }
            }
            catch (Exception ex)
            {
                _error = ex;
            }
        }) { IsBackground = true, Name = "loadgen-remap" };
        _thread.Start();
    }

    /// <summary>Stops and joins; rethrows what failed on the thread.</summary>
    public void Stop()
    {
        _stop.Set();
        if (!_thread.Join(TimeSpan.FromSeconds(10)))
        {
            throw new TimeoutException("the memory-table thread did not stop within 10 s");
        }
        if (_error != null)
        {
            throw new IOException($"memory-table change failed: {_error.Message}", _error);
        }
    }

    public void Dispose()
    {
        _stop.Set();
        _thread.Join(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }
}

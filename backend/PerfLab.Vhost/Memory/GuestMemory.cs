using System.Runtime.CompilerServices;

namespace PerfLab.Vhost.Memory;

/// <summary>
/// The one door to guest memory. An immutable snapshot of the memory table that turns
/// guest-physical addresses (descriptors) and front-end virtual addresses (SET_VRING_ADDR) into
/// host pointers, checking <c>addr + len</c> against the region without overflow. Failure is a
/// null pointer, never an exception. A new table is a new object: the control plane hands it to
/// the data plane in the pollers it builds while the device is paused, so no worker ever sees
/// a table change under it.
/// </summary>
public sealed unsafe class GuestMemory
{
    private readonly Entry[] _byGpa;
    private readonly Entry[] _byFva;

    /// <summary>The empty table: every translation fails.</summary>
    public static readonly GuestMemory Empty = new([]);

    private readonly struct Entry
    {
        public readonly ulong Start;   // GPA or FVA
        public readonly ulong Size;
        public readonly byte* Host;
        public readonly ulong Gpa;

        public Entry(ulong start, ulong size, byte* host, ulong gpa)
        {
            Start = start;
            Size = size;
            Host = host;
            Gpa = gpa;
        }
    }

    public GuestMemory(IReadOnlyList<MappedRegion> regions)
    {
        Regions = regions;
        _byGpa = new Entry[regions.Count];
        _byFva = new Entry[regions.Count];
        for (int i = 0; i < regions.Count; i++)
        {
            var d = regions[i].Desc;
            _byGpa[i] = new Entry(d.GuestPhysAddr, d.MemorySize, regions[i].HostStart, d.GuestPhysAddr);
            _byFva[i] = new Entry(d.UserspaceAddr, d.MemorySize, regions[i].HostStart, d.GuestPhysAddr);
        }
        Array.Sort(_byGpa, (a, b) => a.Start.CompareTo(b.Start));
        Array.Sort(_byFva, (a, b) => a.Start.CompareTo(b.Start));
    }

    /// <summary>The regions this snapshot covers (the control plane owns them).</summary>
    public IReadOnlyList<MappedRegion> Regions { get; }

    public int RegionCount => _byGpa.Length;

    /// <summary>
    /// Translates <c>[gpa, gpa+len)</c>; returns null unless the whole range lies in one region.
    /// A zero length is refused too (virtio forbids empty buffers).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* TranslateGpa(ulong gpa, ulong len)
    {
        var regions = _byGpa;
        if (regions.Length > 0)
        {
            ref readonly Entry e = ref regions[0];
            ulong off = gpa - e.Start; // wraps to a huge value when gpa < start
            if (off < e.Size && len != 0 && len <= e.Size - off)
            {
                return e.Host + off;
            }
        }
        return TranslateSlow(regions, gpa, len, out _);
    }

    /// <summary>
    /// Translates as much of <c>[gpa, gpa+len)</c> as lies in one region: returns the host
    /// pointer and the contiguous length (≤ len), or null if <paramref name="gpa"/> is unmapped.
    /// Lets the chain walker split a buffer that straddles two adjacent regions.
    /// </summary>
    public byte* TranslateGpaPartial(ulong gpa, ulong len, out ulong contiguous)
    {
        contiguous = 0;
        if (len == 0)
        {
            return null;
        }
        int i = Find(_byGpa, gpa);
        if (i < 0)
        {
            return null;
        }
        ref readonly Entry e = ref _byGpa[i];
        ulong off = gpa - e.Start;
        contiguous = Math.Min(len, e.Size - off);
        return e.Host + off;
    }

    /// <summary>Translates a front-end virtual address range (ring addresses).</summary>
    public byte* TranslateFva(ulong fva, ulong len)
    {
        int i = Find(_byFva, fva);
        if (i < 0 || len == 0)
        {
            return null;
        }
        ref readonly Entry e = ref _byFva[i];
        ulong off = fva - e.Start;
        return len <= e.Size - off ? e.Host + off : null;
    }

    /// <summary>Maps a front-end virtual address to the guest-physical address (for the dirty log).</summary>
    public bool TryFvaToGpa(ulong fva, out ulong gpa)
    {
        int i = Find(_byFva, fva);
        if (i < 0)
        {
            gpa = 0;
            return false;
        }
        gpa = _byFva[i].Gpa + (fva - _byFva[i].Start);
        return true;
    }

    /// <summary>Returns a span over <c>[gpa, gpa+len)</c>, or false if it is not mapped in one region.</summary>
    public bool TryGetSpan(ulong gpa, int len, out Span<byte> span)
    {
        byte* p = len > 0 ? TranslateGpa(gpa, (ulong)len) : null;
        span = p == null ? default : new Span<byte>(p, len);
        return p != null;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static byte* TranslateSlow(Entry[] regions, ulong gpa, ulong len, out int index)
    {
        index = Find(regions, gpa);
        if (index < 0 || len == 0)
        {
            return null;
        }
        ref readonly Entry e = ref regions[index];
        ulong off = gpa - e.Start;
        return len <= e.Size - off ? e.Host + off : null;
    }

    /// <summary>Binary search for the region containing <paramref name="addr"/>; -1 if none.</summary>
    private static int Find(Entry[] regions, ulong addr)
    {
        int lo = 0, hi = regions.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            ref readonly Entry e = ref regions[mid];
            if (addr < e.Start)
            {
                hi = mid - 1;
            }
            else if (addr - e.Start >= e.Size)
            {
                lo = mid + 1;
            }
            else
            {
                return mid;
            }
        }
        return -1;
    }
}

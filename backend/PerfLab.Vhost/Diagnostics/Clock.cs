using System.Diagnostics;
using System.Runtime.CompilerServices;
using PerfLab.Vhost.Interop;

namespace PerfLab.Vhost.Diagnostics;

/// <summary>
/// The hot-path clock. On x86-64 Linux with an invariant TSC (constant_tsc and nonstop_tsc)
/// it reads the TSC through a 10-byte stub, cheaper than Stopwatch.GetTimestamp through the
/// vDSO; elsewhere it falls back to Stopwatch. Ticks are
/// only meaningful within one process; convert with <see cref="TicksToNs"/>.
/// Set PERFLAB_CLOCK=stopwatch to force the fallback.
/// </summary>
public static unsafe class Clock
{
    private static readonly delegate* unmanaged[SuppressGCTransition]<ulong> s_rdtsc;
    private static readonly double s_nsPerTick;
    private static readonly double s_ticksPerNs;

    public static string Source { get; }

    public static long TicksPerSecond { get; }

    static Clock()
    {
        s_rdtsc = TryCreateRdtscStub();
        if (s_rdtsc != null)
        {
            // Calibrate against the monotonic clock over 50 ms.
            long sw0 = Stopwatch.GetTimestamp();
            ulong t0 = s_rdtsc();
            Thread.Sleep(50);
            long sw1 = Stopwatch.GetTimestamp();
            ulong t1 = s_rdtsc();
            double seconds = (sw1 - sw0) / (double)Stopwatch.Frequency;
            TicksPerSecond = (long)((t1 - t0) / seconds);
            Source = "tsc";
        }
        else
        {
            TicksPerSecond = Stopwatch.Frequency;
            Source = "stopwatch";
        }
        s_nsPerTick = 1e9 / TicksPerSecond;
        s_ticksPerNs = TicksPerSecond / 1e9;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Now() => s_rdtsc != null ? (long)s_rdtsc() : Stopwatch.GetTimestamp();

    /// <summary>
    /// A wait from <paramref name="start"/> to <paramref name="end"/> is over: the clock reached
    /// the end, or it reads earlier than the start. The TSC is the host's: a VM restored from a
    /// snapshot or moved to another host reads a different one (the kernel's kvm-clock hides
    /// that, the raw TSC does not), and a deadline in the old host's ticks would then be days
    /// away. Every loop that waits for a tick deadline asks this, never <c>now &lt; end</c> alone.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Expired(long now, long start, long end) => now >= end || now < start;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double TicksToNs(long ticks) => ticks * s_nsPerTick;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long NsToTicks(double ns) => (long)(ns * s_ticksPerNs);

    private static delegate* unmanaged[SuppressGCTransition]<ulong> TryCreateRdtscStub()
    {
        try
        {
            if (Environment.GetEnvironmentVariable("PERFLAB_CLOCK") == "stopwatch"
                || !OperatingSystem.IsLinux()
                || System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture
                   != System.Runtime.InteropServices.Architecture.X64)
            {
                return null;
            }
            string cpuinfo = File.ReadAllText("/proc/cpuinfo");
            if (!cpuinfo.Contains(" constant_tsc") || !cpuinfo.Contains(" nonstop_tsc"))
            {
                return null;
            }
            // rdtsc; shl rdx, 32; or rax, rdx; ret
            ReadOnlySpan<byte> code = [0x0F, 0x31, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0xC3];
            nint page = LibC.mmap(0, 4096, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS, -1, 0);
            if (page == LibC.MAP_FAILED)
            {
                return null;
            }
            code.CopyTo(new Span<byte>((void*)page, code.Length));
            if (LibC.mprotect(page, 4096, LibC.PROT_READ | LibC.PROT_EXEC) != 0)
            {
                LibC.munmap(page, 4096);
                return null;
            }
            return (delegate* unmanaged[SuppressGCTransition]<ulong>)page;
        }
        catch (IOException)
        {
            return null;
        }
    }
}

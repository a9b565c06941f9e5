using Microsoft.Extensions.Logging;
using PerfLab.Backend.Logging;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Backend.Rings;

/// <summary>
/// The one way a broken ring is reported, whoever found it: a worker walking it, or the control
/// plane re-pointing it after a memory-table change. The fault is counted, logged once (the data
/// plane's records are rate-limited), the front-end's err fd is signalled and the device raises
/// DEVICE_NEEDS_RESET; the ring stays out of service until the front-end resets it.
/// </summary>
public static class VringFaultReporter
{
    /// <summary>A worker found <paramref name="v"/> malformed while serving queue pair
    /// <paramref name="pair"/> (the ring struct holds the fault and its value).</summary>
    public static void FoundByDataPath(Vring v, int pair, FaultFlag? needsReset, ILogger logger)
    {
        if (Log.DataPlaneLimit.TryEnter(out long suppressed))
        {
            logger.RingBrokenInDataPath(v.Index, pair, v.Fault, new FaultDetail(v.Fault, v.FaultValue, v.Num), new SuppressedNote(suppressed));
        }
        Signal(v, needsReset);
    }

    /// <summary>Request <paramref name="r"/> changed the memory table and <paramref name="v"/>'s
    /// parts are no longer inside it: the ring is marked <see cref="RingFault.RingUnmapped"/>.</summary>
    public static void Unmapped(Vring v, VhostUserRequest r, RingAddressError err, FaultFlag needsReset, ILogger logger)
    {
        v.Layout!.SetFault(v, RingFault.RingUnmapped);
        logger.RingUnmapped(RequestNames.Of(r), v.Index, err.Field, new Hex(err.Value), err.Limit);
        Signal(v, needsReset);
    }

    private static void Signal(Vring v, FaultFlag? needsReset)
    {
        v.Counters.Faults++;
        v.Counters.Rejected++;
        if (v.ErrFd >= 0)
        {
            EventFd.Signal(v.ErrFd);
        }
        needsReset?.Raise();
    }
}

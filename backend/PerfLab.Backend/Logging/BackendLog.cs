using Microsoft.Extensions.Logging;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Backend.Logging;

/// <summary>
/// Every record the back-end writes, one source-generated method each: the level is checked
/// before anything is formatted, and arguments that take work to render (feature lists, fault
/// descriptions) are structs rendered only when the record is written. Event ids: 1xx server,
/// 2xx control plane, 3xx rings, 4xx workers, 5xx stats.
/// </summary>
internal static partial class BackendLog
{
    // ---- server ----------------------------------------------------------------------------

    [LoggerMessage(100, LogLevel.Warning, "socket {Path} is world-writable (mode {Mode}): any local user can connect and act as the front-end")]
    public static partial void SocketWorldWritable(this ILogger log, string path, Octal mode);

    [LoggerMessage(101, LogLevel.Information, "listening on {Path} (mode {Mode}, poll {Poll})")]
    public static partial void Listening(this ILogger log, string path, string mode, string poll);

    [LoggerMessage(102, LogLevel.Information, "client mode: connecting to {Path}")]
    public static partial void Connecting(this ILogger log, string path);

    [LoggerMessage(103, LogLevel.Error, "{Why}; closing the connection")]
    public static partial void ClosingOnProtocolError(this ILogger log, string why);

    [LoggerMessage(104, LogLevel.Warning, "connection dropped: {Reason}")]
    public static partial void ConnectionDropped(this ILogger log, string reason);

    [LoggerMessage(106, LogLevel.Warning, "refused a front-end on {Path}: the device already serves one")]
    public static partial void SecondFrontendRefused(this ILogger log, string path);

    [LoggerMessage(109, LogLevel.Error, "the session failed; it is ended")]
    public static partial void SessionFailed(this ILogger log, Exception error);

    [LoggerMessage(107, LogLevel.Error, "device {Device} ({Path}) is not served: {Reason}")]
    public static partial void DeviceNotServed(this ILogger log, int device, string path, string reason);

    [LoggerMessage(108, LogLevel.Warning, "raised the open-file limit from {From} to {To} for {Devices} devices")]
    public static partial void FdLimitRaised(this ILogger log, long from, long to, int devices);

    [LoggerMessage(105, LogLevel.Information, "session ended ({Why}): {Handled} requests handled, {Rejected} rejected; all rings stopped, memory unmapped")]
    public static partial void SessionEnded(this ILogger log, string why, int handled, int rejected);

    // ---- control plane -----------------------------------------------------------------------

    [LoggerMessage(200, LogLevel.Error, "rejected {Reason}; replied failure")]
    public static partial void RejectedWithFailureReply(this ILogger log, string reason);

    [LoggerMessage(201, LogLevel.Information, "features acked: {Features}")]
    public static partial void FeaturesAcked(this ILogger log, VirtioFeatureList features);

    [LoggerMessage(202, LogLevel.Information, "protocol features acked: {Features}")]
    public static partial void ProtocolFeaturesAcked(this ILogger log, ProtocolFeatureList features);

    [LoggerMessage(203, LogLevel.Warning, "GET_INFLIGHT_FD: INFLIGHT_SHMFD is not offered; replying with no inflight area")]
    public static partial void InflightNotOffered(this ILogger log);

    [LoggerMessage(204, LogLevel.Debug, "SET_MEM_TABLE: identical to the current table; nothing to remap")]
    public static partial void MemTableIdentical(this ILogger log);

    [LoggerMessage(205, LogLevel.Information, "memory table: {Regions} region(s), {MiB} MiB")]
    public static partial void MemoryTable(this ILogger log, int regions, long miB);

    [LoggerMessage(206, LogLevel.Debug, "ADD_MEM_REG: {Region} is already mapped")]
    public static partial void RegionAlreadyMapped(this ILogger log, MemoryRegionDesc region);

    [LoggerMessage(207, LogLevel.Debug, "ADD_MEM_REG: {Region}; {Count} region(s)")]
    public static partial void RegionAdded(this ILogger log, MemoryRegionDesc region, int count);

    [LoggerMessage(208, LogLevel.Debug, "REM_MEM_REG: {Region}; {Count} region(s)")]
    public static partial void RegionRemoved(this ILogger log, MemoryRegionDesc region, int count);

    [LoggerMessage(209, LogLevel.Warning, "vring {Ring}: base {Base} disagrees with the used position in guest memory; resynced to it (in-flight buffers will be re-offered)")]
    public static partial void RingResynced(this ILogger log, int ring, Hex @base);

    [LoggerMessage(210, LogLevel.Information, "vring {Ring} started: {Layout}, size {Size}, base {Base}, event_idx={EventIdx}, in_order={InOrder}, enabled={Enabled}")]
    public static partial void RingStarted(this ILogger log, int ring, string layout, uint size, Hex @base, bool eventIdx, bool inOrder, bool enabled);

    [LoggerMessage(211, LogLevel.Information, "dirty log: {Bytes} bytes (pages up to GPA {Limit}), logging {State}")]
    public static partial void DirtyLogMapped(this ILogger log, ulong bytes, Hex limit, string state);

    [LoggerMessage(212, LogLevel.Information, "{Request}: device reset")]
    public static partial void DeviceReset(this ILogger log, string request);

    [LoggerMessage(213, LogLevel.Information, "SEND_RARP: {Mac} queued on pair 0")]
    public static partial void RarpQueued(this ILogger log, MacAddress mac);

    [LoggerMessage(214, LogLevel.Information, "MTU {Mtu}")]
    public static partial void MtuSet(this ILogger log, ulong mtu);

    [LoggerMessage(215, LogLevel.Error, "guest memory revoked: the front-end shrank the file of region ({Region}) to {Size} bytes under a {Mapped}-byte mapping; ending the session")]
    public static partial void GuestMemoryRevoked(this ILogger log, string region, long size, ulong mapped);

    // ---- rings -------------------------------------------------------------------------------

    [LoggerMessage(300, LogLevel.Error, "vring {Ring} (pair {Pair}) marked broken: {Fault}: {Detail}; the pair stops until the front-end resets the ring{Suppressed}")]
    public static partial void RingBrokenInDataPath(this ILogger log, int ring, int pair, RingFault fault, FaultDetail detail, SuppressedNote suppressed);

    [LoggerMessage(301, LogLevel.Error, "{Request}: vring {Ring} {Field}={Value} {Limit} in the new table; ring marked broken")]
    public static partial void RingUnmapped(this ILogger log, string request, int ring, string field, Hex value, string limit);

    [LoggerMessage(190, LogLevel.Warning, "{Variable}={Value}: this back-end is deliberately broken (test only)")]
    public static partial void SabotageActive(this ILogger log, string variable, string value);

    // ---- workers -----------------------------------------------------------------------------

    [LoggerMessage(400, LogLevel.Warning, "{Worker}: could not pin to CPU {Cpu}")]
    public static partial void PinFailed(this ILogger log, string worker, int cpu);

    [LoggerMessage(401, LogLevel.Error, "{Worker} crashed")]
    public static partial void WorkerCrashed(this ILogger log, Exception error, string worker);

    [LoggerMessage(402, LogLevel.Error, "{Worker} did not stop within 5 s")]
    public static partial void WorkerDidNotStop(this ILogger log, string worker);

    // ---- stats -------------------------------------------------------------------------------

    [LoggerMessage(500, LogLevel.Warning, "stats socket: {Reason}")]
    public static partial void StatsSocketFailed(this ILogger log, string reason);

    [LoggerMessage(501, LogLevel.Warning, "stats socket: a client {Why} ({Done} of {Total} bytes taken); dropped")]
    public static partial void StatsClientDropped(this ILogger log, string why, int done, int total);
}

/// <summary>Rendered as 0x-prefixed hex when a record is written.</summary>
internal readonly record struct Hex(ulong Value)
{
    public override string ToString() => $"0x{Value:x}";
}

/// <summary>Rendered as an octal mode when a record is written.</summary>
internal readonly record struct Octal(uint Value)
{
    public override string ToString() => Convert.ToString(Value, 8);
}

internal readonly record struct VirtioFeatureList(ulong Bits)
{
    public override string ToString() => VirtioFeatures.Describe(Bits);
}

internal readonly record struct ProtocolFeatureList(ulong Bits)
{
    public override string ToString() => ProtocolFeatures.Describe(Bits);
}

internal readonly record struct MacAddress(byte[] Bytes)
{
    public override string ToString() => Convert.ToHexString(Bytes);
}

/// <summary>What is wrong with a broken ring, rendered only when the record is written.</summary>
internal readonly record struct FaultDetail(RingFault Fault, ulong Value, uint QueueSize)
{
    public override string ToString() => RingFaults.Describe(Fault, Value, QueueSize);
}

/// <summary>" (N similar records suppressed)" after rate-limited records, or nothing.</summary>
internal readonly record struct SuppressedNote(long Count)
{
    public override string ToString() => Count > 0 ? $" ({Count} similar records suppressed)" : "";
}

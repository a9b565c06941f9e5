using PerfLab.LoadGen.Frontend;
using PerfLab.LoadGen.Guest;
using PerfLab.LoadGen.Memory;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Net;
using PerfLab.Vhost.Protocol;

namespace PerfLab.LoadGen.Exercises;

/// <summary>
/// Dirty logging as QEMU runs it for migration: starts it on a running device, then checks
/// that the back-end's bitmap marks exactly the pages it wrote.
/// </summary>
public sealed unsafe class DirtyLogCheck : IDisposable
{
    private int _logFd = -1;
    private byte* _logMap;
    private ulong _logBytes;

    /// <summary>Logging was started (rings set up from now on carry the log flag).</summary>
    public bool Active => _logMap != null;

    /// <summary>
    /// Starts dirty logging as QEMU does when migration begins (docs/protocol.md#migration):
    /// SET_FEATURES with LOG_ALL (waited), SET_LOG_BASE with a zeroed bitmap covering every page of
    /// guest RAM (the back-end replies), then SET_VRING_ADDR with the log flag on every ring
    /// (waited).
    /// </summary>
    public void Enable(FrontendSession session, GuestNic guest)
    {
        VhostUserFrontend fe = session.Frontend;
        if (_logMap == null)
        {
            ulong pages = (guest.Ram.EndGpa + GuestRam.PageSize - 1) / GuestRam.PageSize;
            _logBytes = (pages + 63) / 64 * 8;
            _logMap = GuestRam.CreateShared("perflab-dirty-log", _logBytes, out _logFd);
        }
        fe.SetFeatures(session.AckedFeatures | VirtioFeatures.LogAll, waitAck: true);
        fe.SetLogBase(_logBytes, 0, _logFd);
        for (int i = 0; i < guest.Rings; i++)
        {
            fe.Send(VhostUserRequest.SetVringAddr, MessageBytes(guest.RingAddr(i, log: true)), [], needReply: true);
        }
    }

    private static byte[] MessageBytes(VringAddr a)
    {
        var b = new byte[System.Runtime.CompilerServices.Unsafe.SizeOf<VringAddr>()];
        System.Runtime.InteropServices.MemoryMarshal.Write(b, in a);
        return b;
    }

    /// <summary>
    /// Compares the dirty log with the pages the back-end must have written since logging
    /// began: every RX buffer's header and frame, and the used ring of every ring; nothing else
    /// (TX buffers, descriptor tables and avail rings are only read). Exact when every RX buffer
    /// was filled at least once with one whole frame; otherwise (-1, -1, -1).
    /// </summary>
    public (long Logged, long Expected, long Mismatches) Check(GuestNic guest, ulong features, LoadGenOptions o)
    {
        int hdr = VirtioNetHeader.SizeFor(features);
        PairDriver[] pairs = guest.Pairs;
        bool oneBufferPerFrame = pairs.All(p => p.RxBufSize >= (uint)(hdr + o.FrameSize));
        if (_logMap == null || o.TxOnly || !oneBufferPerFrame || pairs.Any(p => p.Received < p.QueueSize))
        {
            return (-1, -1, -1);
        }
        var expected = new HashSet<ulong>();
        void Add(ulong gpa, ulong len)
        {
            for (ulong pg = gpa / GuestRam.PageSize; pg <= (gpa + len - 1) / GuestRam.PageSize; pg++)
            {
                expected.Add(pg);
            }
        }
        foreach (PairDriver p in pairs)
        {
            foreach (var (gpa, len) in p.DeviceWrittenRingParts())
            {
                Add(gpa, len);
            }
            foreach (ulong gpa in p.RxGpa)
            {
                Add(gpa, (ulong)(hdr + o.FrameSize));
            }
        }
        long logged = 0, mismatches = 0;
        for (ulong pg = 0; pg < _logBytes * 8; pg++)
        {
            bool dirty = (_logMap[pg >> 3] & (1 << (int)(pg & 7))) != 0;
            logged += dirty ? 1 : 0;
            mismatches += dirty != expected.Contains(pg) ? 1 : 0;
        }
        return (logged, expected.Count, mismatches);
    }

    public void Dispose()
    {
        if (_logMap != null)
        {
            LibC.munmap((nint)_logMap, (nuint)_logBytes);
            _logMap = null;
        }
        LibC.CloseQuietly(_logFd);
        _logFd = -1;
    }
}

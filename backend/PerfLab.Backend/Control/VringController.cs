using System.Runtime.InteropServices;
using PerfLab.Backend.Rings;
using PerfLab.Backend.Logging;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Protocol;
using PerfLab.Vhost.Transport;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Backend.Control;

/// <summary>
/// Ring lifecycle (docs/protocol.md#ring-lifecycle): SET_VRING_NUM / ADDR / BASE collect a ring's
/// configuration, SET_VRING_KICK starts it once it has memory, GET_VRING_BASE stops it,
/// SET_VRING_CALL / ERR swap its fds, SET_VRING_ENABLE enables it. Started and enabled are
/// independent. Accepts the orders QEMU 7.2 and DPDK 22.11 really send
/// (docs/protocol.md#message-orders), including SET_VRING_ENABLE before any ring is configured.
/// </summary>
internal sealed class VringController
{
    private readonly VhostUserSession _s;

    public VringController(VhostUserSession session) => _s = session;

    /// <summary>The layout the negotiated features select, for rings not started yet.</summary>
    private VringLayout Layout => VringLayout.For(_s.AckedFeatures);

    public void SetVringNum(VringState s)
    {
        const VhostUserRequest r = VhostUserRequest.SetVringNum;
        Vring v = _s.Ring(r, s.Index);
        RequireStopped(r, v);
        if (Layout.CheckSize(s.Num) is { } why)
        {
            throw new VhostProtocolException(r, "num", s.Num, why);
        }
        v.Num = s.Num;
    }

    public void SetVringAddr(VringAddr a)
    {
        const VhostUserRequest r = VhostUserRequest.SetVringAddr;
        Vring v = _s.Ring(r, a.Index);
        if (Layout.CheckSyntax(a) is { } bad)
        {
            throw new VhostProtocolException(r, bad.Field, bad.Value, bad.Limit);
        }
        if (v.Started)
        {
            // While running only the log flag may change (migration,
            // docs/protocol.md#ring-lifecycle).
            if (a.DescUserAddr != v.Addr.DescUserAddr || a.AvailUserAddr != v.Addr.AvailUserAddr || a.UsedUserAddr != v.Addr.UsedUserAddr)
            {
                throw new VhostProtocolException(r, "addresses", a.DescUserAddr, "ring is running: stop it with GET_VRING_BASE first");
            }
            _s.Reconfigure(() =>
            {
                v.Addr = a;
                v.UsedLogGpa = a.LogGuestAddr;
            });
            return;
        }
        if (v.Num != 0 && _s.MemoryTable.Count > 0 && CheckRing(a, v.Num) is { } e)
        {
            throw new VhostProtocolException(r, e.Field, e.Value, e.Limit);
        }
        v.Addr = a;
        v.AddrSet = true;
        v.UsedLogGpa = a.LogGuestAddr;
    }

    public void SetVringBase(VringState s)
    {
        const VhostUserRequest r = VhostUserRequest.SetVringBase;
        Vring v = _s.Ring(r, s.Index);
        RequireStopped(r, v);
        if (Layout.CheckBase(s.Num, v.Num) is { } bad)
        {
            throw new VhostProtocolException(r, bad.Field, bad.Value, bad.Limit);
        }
        v.Base = s.Num;
    }

    /// <summary>Stops the ring after everything taken is completed (the worker pauses at a
    /// round boundary, so nothing is in flight), replies with the next avail index.</summary>
    public byte[] GetVringBase(VringState s)
    {
        const VhostUserRequest r = VhostUserRequest.GetVringBase;
        Vring v = _s.Ring(r, s.Index);
        uint next = 0;
        _s.Reconfigure(() =>
        {
            next = v.NextAvailForBase;
            if (v.Started)
            {
                v.Base = next;
                v.Started = false;
            }
            // As DPDK and rust-vmm: the ring's kick and call fds go with the stop.
            LibC.CloseQuietly(v.KickFd);
            v.KickFd = -1;
            v.KickReceived = false;
            LibC.CloseQuietly(v.CallFd);
            v.CallFd = -1;
        });
        var reply = new byte[8];
        MemoryMarshal.Write(reply, new VringState(s.Index, next));
        return reply;
    }

    public void SetVringFd(VhostUserRequest r, ulong value, ReceivedMessage m)
    {
        if ((value & ~(VringFile.IndexMask | VringFile.NoFdFlag)) != 0)
        {
            throw new VhostProtocolException(r, "u64", value, "only bits 0-7 (index) and 8 (NOFD) are defined");
        }
        Vring v = _s.Ring(r, (uint)(value & VringFile.IndexMask));
        if ((value & VringFile.NoFdFlag) == 0 && EventFd.AdoptForeign(m.Fds[0]) is { } why)
        {
            throw new VhostProtocolException(r, "fd", $"{m.Fds[0]} (vring {v.Index})", why) { Fatal = false };
        }
        int fd = (value & VringFile.NoFdFlag) != 0 ? -1 : m.TakeFd(0);
        switch (r)
        {
            case VhostUserRequest.SetVringKick:
                _s.Reconfigure(() =>
                {
                    LibC.CloseQuietly(v.KickFd);
                    v.KickFd = fd;
                    v.KickReceived = true;
                    StartIfReady(v, r);
                });
                break;
            case VhostUserRequest.SetVringCall:
                SwapFd(v, call: true, fd);
                break;
            default:
                SwapFd(v, call: false, fd);
                break;
        }
    }

    /// <summary>SET_VRING_CALL / ERR may arrive while the ring runs: swap under pause (at once
    /// if stopped), and close the old fd after.</summary>
    private void SwapFd(Vring v, bool call, int fd)
    {
        int old = call ? v.CallFd : v.ErrFd;
        void Set()
        {
            if (call)
            {
                v.CallFd = fd;
            }
            else
            {
                v.ErrFd = fd;
            }
        }
        if (v.Started)
        {
            _s.Reconfigure(Set);
        }
        else
        {
            Set();
        }
        LibC.CloseQuietly(old);
    }

    public void SetVringEnable(VringState s)
    {
        const VhostUserRequest r = VhostUserRequest.SetVringEnable;
        Vring v = _s.Ring(r, s.Index);
        if (s.Num > 1)
        {
            throw new VhostProtocolException(r, "num", s.Num, "must be 0 (disable) or 1 (enable)");
        }
        bool enable = s.Num == 1;
        if (v.Enabled == enable)
        {
            return;
        }
        // Recorded whether or not the ring is configured yet: QEMU enables before ring setup
        // and never again (docs/protocol.md#what-qemu-72-sends).
        if (v.Started)
        {
            _s.Reconfigure(() => v.Enabled = enable);
        }
        else
        {
            v.Enabled = enable;
        }
    }

    /// <summary>A memory change (device paused) may complete a ring that was kicked before its
    /// memory was there: start it if its addresses are now mapped.</summary>
    public void StartIfMapped(Vring v, VhostUserRequest r)
    {
        if (v.KickReceived && v.AddrSet && v.Num != 0 && CheckRing(v.Addr, v.Num) == null)
        {
            StartIfReady(v, r);
        }
    }

    /// <summary>Are a ring's three parts inside the current memory?</summary>
    private RingAddressError? CheckRing(in VringAddr a, uint num) => Layout.CheckInMemory(_s.Memory, a, num);

    private static void RequireStopped(VhostUserRequest r, Vring v)
    {
        if (v.Started)
        {
            throw new VhostProtocolException(r, "index", (ulong)v.Index, "ring is running: stop it with GET_VRING_BASE first");
        }
    }

    /// <summary>
    /// Starts a ring once it has a kick (or NOFD), a size, addresses and memory: translates the
    /// addresses and attaches. Addresses outside memory are a protocol error of request
    /// <paramref name="r"/>, and so are a size or an alignment that suit the other layout (the
    /// ring was configured before SET_FEATURES changed RING_PACKED).
    /// </summary>
    private void StartIfReady(Vring v, VhostUserRequest r)
    {
        if (v.Started || !v.KickReceived || !v.AddrSet || v.Num == 0 || _s.MemoryTable.Count == 0)
        {
            return;
        }
        VringLayout layout = Layout;
        if (layout.Attach(v, _s.Memory, _s.AckedFeatures, out bool resynced) is { } err)
        {
            throw new VhostProtocolException(r, err.Field, err.Value, $"{err.Limit} (vring {v.Index})");
        }
        v.ResyncedAtStart = resynced;
        if (resynced)
        {
            _s.Logger.RingResynced(v.Index, new Hex(v.Base));
        }
        v.Started = true;
        ulong f = _s.AckedFeatures;
        _s.Logger.RingStarted(v.Index, layout.Name, v.Num, new Hex(v.NextAvailForBase), VirtioFeatures.Has(f, VirtioFeatures.RingEventIdx), VirtioFeatures.Has(f, VirtioFeatures.InOrder), v.Enabled);
    }
}

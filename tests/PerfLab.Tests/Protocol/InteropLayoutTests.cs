using System.Runtime.CompilerServices;
using Mono.Unix.Native;
using PerfLab.Vhost.Interop;
using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Protocol;

/// <summary>Struct sizes and macros that must match glibc on x86-64 (checked with gcc here).</summary>
public class InteropLayoutTests
{
    [Fact]
    public void CmsgMacrosAreGlibcs()
    {
        // Tmds.LibC computes CMSG_LEN(4) = 24, which makes Linux read two fds
        // (docs/protocol.md#file-descriptors).
        Assert.Equal(20ul, Syscall.CMSG_LEN(4));
        Assert.Equal(24ul, Syscall.CMSG_SPACE(4));
    }

    [Fact]
    public void KernelStructsHaveTheirX64Sizes()
    {
        Assert.Equal(12, Unsafe.SizeOf<epoll_event>());
        Assert.Equal(144, Unsafe.SizeOf<rusage>());
        Assert.Equal(16, Unsafe.SizeOf<timespec>());
        Assert.Equal(16, Unsafe.SizeOf<VirtqDesc>());
        Assert.Equal(8, Unsafe.SizeOf<VirtqUsedElem>());
        Assert.Equal(12, Unsafe.SizeOf<PerfLab.Vhost.Net.VirtioNetHeader>());
    }

    [Fact]
    public void SplitRingPartSizesFollowTheSpec()
    {
        Assert.Equal(16 * 256, SplitLayout.DescTableBytes(256));
        Assert.Equal(6 + 2 * 256, SplitLayout.AvailBytes(256));
        Assert.Equal(6 + 8 * 256, SplitLayout.UsedBytes(256));
        Assert.True(SplitLayout.IsValidSize(32768));
        Assert.False(SplitLayout.IsValidSize(65536));
        Assert.False(SplitLayout.IsValidSize(0));
        Assert.False(SplitLayout.IsValidSize(384));
    }
}

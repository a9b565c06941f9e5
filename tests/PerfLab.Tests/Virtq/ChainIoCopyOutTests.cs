using PerfLab.Vhost.Virtq;
using Xunit;

namespace PerfLab.Tests.Virtq;

/// <summary>
/// <see cref="ChainIo.CopyOutShort"/> (copy mode's per-frame copy: two overlapping 32-byte moves
/// for 32 to 64 bytes, memmove otherwise) copies exactly the bytes <see cref="ChainIo.CopyOut"/>
/// does, and nothing past them, at every length around the inline window and every offset.
/// </summary>
public class ChainIoCopyOutTests
{
    [Theory]
    [InlineData(0u)]
    [InlineData(10u)]
    [InlineData(12u)]
    public unsafe void CopyOutShortCopiesWhatCopyOutCopies(uint off)
    {
        byte[] src = new byte[256];
        for (int i = 0; i < src.Length; i++)
        {
            src[i] = (byte)(i * 7 + 1);
        }
        fixed (byte* s = src)
        {
            for (uint len = 1; len <= 100; len++)
            {
                var b = new BufRef { Ptr = s, Len = len, Id = 0, Slots = 1 };
                foreach (int room in new[] { 16, 63, 64, 2048 })
                {
                    byte[] expected = new byte[room + 8];
                    byte[] actual = new byte[room + 8];
                    Array.Fill(expected, (byte)0xEE);
                    Array.Fill(actual, (byte)0xEE);
                    int n0 = ChainIo.CopyOut(in b, off, expected.AsSpan(0, room));
                    int n1 = ChainIo.CopyOutShort(in b, off, actual.AsSpan(0, room));
                    Assert.Equal(n0, n1);
                    Assert.Equal(expected, actual);
                }
            }
        }
    }
}

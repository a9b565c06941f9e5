using System.ComponentModel;
using BenchmarkDotNet.Attributes;
using PerfLab.Vhost.Virtq;

namespace PerfLab.Bench.Micro;

/// <summary>
/// The device side's per-frame ring work over real shared memory: walking a descriptor
/// chain (every descriptor bounds-checked and translated) and publishing a batch of used
/// elements. Results are per chain and per used element.
/// </summary>
[MemoryDiagnoser]
[BenchmarkCategory(Categories.Micro)]
public unsafe class RingBenchmarks
{
    private const int Chains = 256;
    private const int Batch = 32;
    private RingFixture _ring = null!;
    private DescChain _chain;
    private readonly BufRef[] _used = new BufRef[Batch];

    /// <summary>Descriptors per chain: 1 (a single-buffer frame) or 4 (header and fragments).</summary>
    [Params(1, 4)]
    public int Descriptors { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _ring = new RingFixture((ushort)(Chains * 4));
        _chain = DescChain.Allocate(64);
        for (int c = 0; c < Chains; c++)
        {
            for (int d = 0; d < Descriptors; d++)
            {
                int i = c * 4 + d;
                ref VirtqDesc desc = ref _ring.Driver.Desc(i);
                desc.Addr = _ring.Ram.Alloc(512, 64);
                desc.Len = 512;
                desc.Flags = d + 1 < Descriptors ? VirtqDesc.FlagNext : (ushort)0;
                desc.Next = (ushort)(i + 1);
            }
        }
        for (int i = 0; i < Batch; i++)
        {
            _used[i] = new BufRef { Id = (ushort)i, Len = 64, Slots = 1 };
        }
    }

    [Benchmark(OperationsPerInvoke = Chains)]
    [Description("walk one descriptor chain: read, check and translate each descriptor (ChainWalker)")]
    public int ChainWalk()
    {
        VirtqDesc* table = _ring.DeviceDescTable;
        int segments = 0;
        for (int c = 0; c < Chains; c++)
        {
            _chain.Reset();
            ChainWalker.Walk(_ring.Memory, table, _ring.Size, (ushort)(c * 4), indirectAllowed: true, deviceWrites: false, ref _chain);
            segments += _chain.Count;
        }
        return segments;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    [Description("publish 32 used elements with one used.idx release store and the call decision; per element")]
    public PublishResult UsedRingBatchPublish()
    {
        _ring.Device.PushUsedBurst(_used);
        return _ring.Device.Publish(canCall: true);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _chain.Free();
        _ring.Dispose();
    }
}

/// <summary>Guest-physical to host address translation, the door every buffer goes through.</summary>
[MemoryDiagnoser]
[BenchmarkCategory(Categories.Micro)]
public unsafe class MemoryBenchmarks
{
    private const int Addresses = 64;
    private RingFixture _ring = null!;
    private readonly ulong[] _gpas = new ulong[Addresses];

    /// <summary>Memory regions: 1 (the fast path) or 8 (a search).</summary>
    [Params(1, 8)]
    public int Regions { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _ring = new RingFixture(256, Regions, ramBytes: 64 << 20);
        var regions = _ring.Ram.Regions;
        for (int i = 0; i < Addresses; i++)
        {
            var r = regions[i % regions.Count];
            _gpas[i] = r.Gpa + ((ulong)i * 4096 % (r.Size - 4096));
        }
    }

    [Benchmark(OperationsPerInvoke = Addresses)]
    [Description("translate a guest-physical range to a host pointer (GuestMemory.TranslateGpa)")]
    public nint GuestAddressTranslation()
    {
        nint sum = 0;
        var mem = _ring.Memory;
        ulong[] gpas = _gpas;
        for (int i = 0; i < gpas.Length; i++)
        {
            sum += (nint)mem.TranslateGpa(gpas[i], 1514);
        }
        return sum;
    }

    [GlobalCleanup]
    public void Cleanup() => _ring.Dispose();
}

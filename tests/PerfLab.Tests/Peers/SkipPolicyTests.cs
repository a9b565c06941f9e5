using System.Reflection;
using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace PerfLab.Tests.Peers;

/// <summary>
/// CI cannot hide a skip: a peer test whose peer is missing becomes a failed test that says why
/// under CI=true, and no test anywhere may skip for any other reason.
/// </summary>
public sealed class SkipPolicyTests
{
    private const string Why = "no-such-peer is not installed: run scripts/install-peers";

    private sealed class NoSuchPeerFactAttribute() : PeerFactAttribute(Why);

    private sealed class PresentPeerFactAttribute() : PeerFactAttribute(null);

    private sealed class NoSuchPeerTheoryAttribute() : PeerTheoryAttribute(Why);

    // Private: xunit does not discover these as tests; the cases below discover them by hand.
#pragma warning disable xUnit1000
    private sealed class Sample
    {
        [NoSuchPeerFact]
        public void NeedsAMissingPeer()
        {
        }

        [PresentPeerFact]
        public void NeedsAPresentPeer()
        {
        }

        [NoSuchPeerTheory]
        [InlineData(1)]
        public void TheoryNeedsAMissingPeer(int x) => Assert.Equal(1, x);
    }
#pragma warning restore xUnit1000

    private static (ITestMethod Method, IAttributeInfo Attr) Method(string name)
    {
        var asm = new TestAssembly(Reflector.Wrap(typeof(Sample).Assembly));
        var cls = new TestClass(new TestCollection(asm, null, "skip policy"), Reflector.Wrap(typeof(Sample)));
        var m = new TestMethod(cls, Reflector.Wrap(typeof(Sample).GetMethod(name)!));
        return (m, m.Method.GetCustomAttributes(typeof(FactAttribute)).Single());
    }

    [Fact]
    public void UnderCiAMissingPeerIsAFailedTestThatSaysWhy()
    {
        var (m, a) = Method(nameof(Sample.NeedsAMissingPeer));
        IXunitTestCase tc = new PeerFactDiscoverer(new NullMessageSink()).Discover(new Options(), m, a, ci: true).Single();
        var error = Assert.IsType<ExecutionErrorTestCase>(tc);
        Assert.Contains(Why, error.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("CI=true", error.ErrorMessage, StringComparison.Ordinal);
        if (CiRun.IsCi)
        {
            Assert.Null(tc.SkipReason); // the attribute did not mark it skipped: it fails
        }
    }

    [Fact]
    public void UnderCiAMissingPeerFailsATheoryToo()
    {
        var (m, a) = Method(nameof(Sample.TheoryNeedsAMissingPeer));
        IXunitTestCase tc = new PeerTheoryDiscoverer(new NullMessageSink()).Discover(new Options(), m, a, ci: true).Single();
        Assert.Contains(Why, Assert.IsType<ExecutionErrorTestCase>(tc).ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void WithoutCiAMissingPeerSkipsWithTheReason()
    {
        var (m, a) = Method(nameof(Sample.NeedsAMissingPeer));
        IXunitTestCase tc = new PeerFactDiscoverer(new NullMessageSink()).Discover(new Options(), m, a, ci: false).Single();
        Assert.IsNotType<ExecutionErrorTestCase>(tc);
        // The attribute decided at construction, from this run's own CI setting.
        Assert.Equal(CiRun.IsCi ? null : Why, tc.SkipReason);
    }

    [Fact]
    public void APresentPeerRunsTheTest()
    {
        var (m, a) = Method(nameof(Sample.NeedsAPresentPeer));
        IXunitTestCase tc = new PeerFactDiscoverer(new NullMessageSink()).Discover(new Options(), m, a, ci: true).Single();
        Assert.IsNotType<ExecutionErrorTestCase>(tc);
        Assert.Null(tc.SkipReason);
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("TRUE", true)]
    [InlineData("1", true)]
    [InlineData("false", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void CiIsRecognised(string? value, bool ci) => Assert.Equal(ci, CiRun.IsTrue(value));

    /// <summary>No test skips except through a peer attribute, and under CI not even those.</summary>
    [Fact]
    public void NoTestIsSkippedExceptForAMissingPeer()
    {
        var offenders = new List<string>();
        foreach (Type t in typeof(SkipPolicyTests).Assembly.GetTypes())
        {
            foreach (MethodInfo mi in t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                foreach (Attribute attr in mi.GetCustomAttributes(inherit: false))
                {
                    string? skip = attr switch
                    {
                        PeerFactAttribute p => CiRun.IsCi ? p.Skip : null,
                        PeerTheoryAttribute p => CiRun.IsCi ? p.Skip : null,
                        FactAttribute f => f.Skip,
                        DataAttribute d => d.Skip,
                        _ => null,
                    };
                    if (skip != null)
                    {
                        offenders.Add($"{t.FullName}.{mi.Name} [{attr.GetType().Name}]: {skip}");
                    }
                }
            }
        }
        Assert.True(offenders.Count == 0, "tests that skip (use a PeerFactAttribute for a missing peer, and nothing else):\n" + string.Join("\n", offenders));
    }

    private sealed class Options : ITestFrameworkDiscoveryOptions
    {
        public TValue GetValue<TValue>(string name) => default!;

        public void SetValue<TValue>(string name, TValue value)
        {
        }
    }
}

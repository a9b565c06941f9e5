using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace PerfLab.Tests.Peers;

/// <summary>
/// Where the test run stands on skipping: under <c>CI=true</c> (CI, merge-to-main) nothing
/// may skip, so a test whose peer is missing fails and says why; elsewhere it skips and says why.
/// </summary>
public static class CiRun
{
    public static bool IsCi => IsTrue(Environment.GetEnvironmentVariable("CI"));

    public static bool IsTrue(string? v) =>
        v != null && (v.Equals("true", StringComparison.OrdinalIgnoreCase) || v == "1" || v.Equals("yes", StringComparison.OrdinalIgnoreCase));

    /// <summary>What a peer attribute sets as its Skip: the reason, but never under CI.</summary>
    public static string? SkipReason(string? missing) => IsCi ? null : missing;

    /// <summary>The failure a missing peer becomes under CI=true.</summary>
    public static string Failure(string missing) => $"CI=true and a peer this test needs is missing (a skip would hide it): {missing}";
}

/// <summary>
/// The one way a PerfLab test depends on a real peer (QEMU, DPDK, a database server...):
/// derive an attribute that passes the peer's "why not" (null when it is usable), e.g.
/// <c>public sealed class RequiresQemuFactAttribute() : PeerFactAttribute(PeerEnvironment.QemuMissing());</c>.
/// Without CI the test skips with that reason; under <c>CI=true</c> it is reported as a failed
/// test with the reason (<see cref="PeerFactDiscoverer"/>). Never write <c>[Fact(Skip = ...)]</c>
/// or return early from a test when a peer is missing: <c>SkipPolicyTests</c> fails on the first.
/// </summary>
[XunitTestCaseDiscoverer("PerfLab.Tests.Peers.PeerFactDiscoverer", "PerfLab.Tests")]
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public abstract class PeerFactAttribute : FactAttribute
{
    protected PeerFactAttribute(string? missing)
    {
        PeerMissing = missing;
        Skip = CiRun.SkipReason(missing);
    }

    /// <summary>Null when the peer is usable, else why not.</summary>
    public string? PeerMissing { get; }
}

/// <summary>The theory form of <see cref="PeerFactAttribute"/>: derive it the same way.</summary>
[XunitTestCaseDiscoverer("PerfLab.Tests.Peers.PeerTheoryDiscoverer", "PerfLab.Tests")]
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public abstract class PeerTheoryAttribute : TheoryAttribute
{
    protected PeerTheoryAttribute(string? missing)
    {
        PeerMissing = missing;
        Skip = CiRun.SkipReason(missing);
    }

    /// <summary>Null when the peer is usable, else why not.</summary>
    public string? PeerMissing { get; }
}

/// <summary>Discovers a <see cref="PeerFactAttribute"/> test: a failed test case carrying the
/// reason when its peer is missing under CI, the ordinary fact (run, or skipped) otherwise.</summary>
public sealed class PeerFactDiscoverer(IMessageSink diagnosticMessageSink) : FactDiscoverer(diagnosticMessageSink)
{
    public override IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        Discover(discoveryOptions, testMethod, factAttribute, CiRun.IsCi);

    internal IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions o, ITestMethod m, IAttributeInfo a, bool ci) =>
        PeerDiscovery.MissingUnderCi(a, ci) is { } why
            ? [PeerDiscovery.Failed(DiagnosticMessageSink, o, m, why)]
            : base.Discover(o, m, a);
}

/// <summary>As <see cref="PeerFactDiscoverer"/>, for <see cref="PeerTheoryAttribute"/>.</summary>
public sealed class PeerTheoryDiscoverer(IMessageSink diagnosticMessageSink) : TheoryDiscoverer(diagnosticMessageSink)
{
    public override IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        Discover(discoveryOptions, testMethod, factAttribute, CiRun.IsCi);

    internal IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions o, ITestMethod m, IAttributeInfo a, bool ci) =>
        PeerDiscovery.MissingUnderCi(a, ci) is { } why
            ? [PeerDiscovery.Failed(DiagnosticMessageSink, o, m, why)]
            : base.Discover(o, m, a);
}

internal static class PeerDiscovery
{
    /// <summary>The attribute's reason when it must become a failure (CI and a missing peer).</summary>
    public static string? MissingUnderCi(IAttributeInfo a, bool ci) =>
        ci ? a.GetNamedArgument<string?>(nameof(PeerFactAttribute.PeerMissing)) : null;

    public static IXunitTestCase Failed(IMessageSink sink, ITestFrameworkDiscoveryOptions o, ITestMethod m, string why) =>
        new ExecutionErrorTestCase(sink, o.MethodDisplayOrDefault(), o.MethodDisplayOptionsOrDefault(), m, CiRun.Failure(why));
}

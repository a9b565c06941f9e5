using System.Runtime.CompilerServices;

namespace PerfLab.Vhost.Polling;

/// <summary>
/// NAPI's deferred re-arm (<c>napi_defer_hard_irqs</c> with <c>gro_flush_timeout</c>) for a
/// hybrid loop whose peer does not need notifications to make progress: when the poll budget
/// runs out, take up to <see cref="Naps"/> short timed naps with notifications left off, polling
/// once after each, before arming and sleeping until a notification. A nap bounds the wait for
/// the next frame by its length, and the peer pays no notification for it; whether it pays in
/// CPU depends on what a timed wake-up costs against a notified one (docs/polling.md). Work found
/// after a nap refills the naps for the next idle period; so does a sleep.
/// </summary>
public struct NapBudget
{
    private readonly int _naps;
    private int _left;
    private bool _napped;

    /// <param name="naps">naps per idle period (0: none, arm at once as before)</param>
    public NapBudget(int naps)
    {
        _naps = Math.Max(0, naps);
        _left = _naps;
    }

    /// <summary>Naps per idle period.</summary>
    public readonly int Naps => _naps;

    /// <summary>The idle period has napped at least once (work found now ends a nap phase).</summary>
    public readonly bool Napped => _napped;

    /// <summary>True: nap now (one of the period's naps is taken); false: arm and sleep.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryTake()
    {
        if (_left == 0)
        {
            return false;
        }
        _left--;
        _napped = true;
        return true;
    }

    /// <summary>Work found; true when it came after a nap of this idle period.</summary>
    public bool OnWork()
    {
        bool afterNap = _napped;
        Refill();
        return afterNap;
    }

    /// <summary>The loop armed and slept (or its re-check found work): the next idle period
    /// starts with every nap again.</summary>
    public void Refill()
    {
        _left = _naps;
        _napped = false;
    }
}

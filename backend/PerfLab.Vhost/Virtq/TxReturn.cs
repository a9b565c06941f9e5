using System.Runtime.CompilerServices;
using PerfLab.Vhost.Polling;

namespace PerfLab.Vhost.Virtq;

/// <summary>When a device gives a driver's transmitted buffers back (docs/envelope.md).</summary>
public enum TxReturn : byte
{
    /// <summary>Each burst with the round that took it.</summary>
    Immediate,
    /// <summary>Every burst one burst late (<see cref="IDeviceRing.PublishDeferred"/>).</summary>
    Deferred,
    /// <summary>A full burst one burst late, a smaller one at once (<see cref="TxReturnRule"/>).</summary>
    Auto,
}

/// <summary>Per TX ring state of <see cref="TxReturnRule"/> (a mutable struct: keep it in a
/// field and pass it by ref).</summary>
public struct TxReturnState
{
    /// <summary>Rounds in a row that found no TX buffer.</summary>
    public int IdleRounds;

    /// <summary>The driver posted a burst while one was held: it does not wait for them.</summary>
    public bool Streaming;
}

/// <summary>
/// The TX-return rule, in one place. DPDK's virtio PMD (split ring) reclaims its whole ring at
/// once when it finds more than <c>size - tx_free_thresh</c> buffers used (threshold
/// min(size / 4, 32)); from queue 512 up that frees more mbufs than testpmd's mempool cache
/// holds, and costs it two thirds of its rate (docs/envelope.md#the-queue-size-cliff). Holding
/// back the latest burst keeps it out of that state if the burst is at least the threshold.
/// <list type="bullet">
/// <item>Auto holds a burst of <see cref="HoldMin"/> or more on a ring of
/// <see cref="MinRingSize"/> or more; a smaller burst (an idle or ping-ponging driver, which may
/// be waiting for it) goes back at once, with whatever was held.</item>
/// <item>A held burst goes back after <see cref="ProbationRounds"/> empty rounds, or
/// <see cref="FlushAfterIdleRounds"/> once the driver has posted a burst while one was held
/// (it streams, and does not wait for them); and always before the worker sleeps. So a driver
/// that sends one full burst and waits for it loses <see cref="ProbationRounds"/> polls, not
/// <see cref="FlushAfterIdleRounds"/>.</item>
/// <item>Deferred holds every burst and returns it after <see cref="FlushAfterIdleRounds"/>
/// empty rounds (or before sleeping).</item>
/// </list>
/// </summary>
public static class TxReturnRule
{
    /// <summary>The smallest burst held back: DPDK's default TX free threshold.</summary>
    public const int HoldMin = 32;

    /// <summary>The smallest ring on which auto holds a burst (at 256 DPDK's whole-ring reclaim
    /// fits its mempool cache: no cliff to avoid).</summary>
    public const int MinRingSize = 512;

    /// <summary>Empty rounds after which a held burst goes back while the driver is not known to
    /// stream (a few microseconds of busy polling: more than a streaming driver's gap between
    /// bursts).</summary>
    public const int ProbationRounds = 64;

    /// <summary>Empty rounds after which a held burst goes back anyway.</summary>
    public const int FlushAfterIdleRounds = 1024;

    /// <summary>
    /// The policy a device runs under polling strategy <paramref name="poll"/>. Backoff sleeps
    /// without arming notifications, so nothing returns a held burst before it sleeps, and
    /// its empty rounds can be as many sleeps: there <see cref="TxReturn.Auto"/> is
    /// <see cref="TxReturn.Immediate"/>.
    /// </summary>
    public static TxReturn Effective(TxReturn requested, PollMode poll) =>
        requested == TxReturn.Auto && poll == PollMode.Backoff ? TxReturn.Immediate : requested;

    /// <summary>As above; hybrid with naps (<see cref="NapBudget"/>) also naps without
    /// arming, so a held burst would wait out a nap per empty round: there too
    /// <see cref="TxReturn.Auto"/> is <see cref="TxReturn.Immediate"/>.</summary>
    public static TxReturn Effective(TxReturn requested, PollOptions poll) =>
        requested == TxReturn.Auto && poll.Mode == PollMode.Hybrid && poll.HybridNaps > 0
            ? TxReturn.Immediate
            : Effective(requested, poll.Mode);

    /// <summary>Whether a round that took <paramref name="taken"/> TX buffers from a ring of
    /// <paramref name="ringSize"/> entries holds them back.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Holds(TxReturn mode, int taken, int ringSize) => mode switch
    {
        TxReturn.Deferred => true,
        TxReturn.Auto => taken >= HoldMin && ringSize >= MinRingSize,
        _ => false,
    };

    /// <summary>Publishes a round's TX burst of <paramref name="taken"/> buffers (already
    /// pushed) under <paramref name="mode"/>: held back (<see cref="IDeviceRing.PublishDeferred"/>)
    /// or returned with anything held before (<see cref="IDeviceRing.Publish"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PublishResult Publish<TRing>(ref TRing tx, ref TxReturnState s, TxReturn mode, int taken, bool canCall)
        where TRing : struct, IDeviceRing
    {
        s.IdleRounds = 0;
        if (tx.PendingUsed > taken)
        {
            s.Streaming = true; // this burst was posted while an earlier one was held
        }
        return Holds(mode, taken, tx.Size) ? tx.PublishDeferred(canCall) : tx.Publish(canCall);
    }

    /// <summary>Counts a round that found no TX buffer; true when what is held must go back now.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IdleRound(ref TxReturnState s, TxReturn mode)
    {
        if (mode == TxReturn.Immediate)
        {
            return false;
        }
        int limit = s.Streaming || mode == TxReturn.Deferred ? FlushAfterIdleRounds : ProbationRounds;
        if (++s.IdleRounds != limit)
        {
            return false;
        }
        s.Streaming = false;
        return true;
    }
}

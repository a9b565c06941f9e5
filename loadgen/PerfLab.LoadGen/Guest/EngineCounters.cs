namespace PerfLab.LoadGen.Guest;

/// <summary>The guest side's counters (one writer: the traffic thread).</summary>
public sealed class EngineCounters
{
    public long Sent;
    public long Received;
    public long SeqErrors;
    public long Unswapped;
    public long BadLength;
    public long Corrupt;
    public long VerifyErrors;
    public long BadIds;
    public long Kicks;
    public long CallsReceived;
    public long Sleeps;
    public long TxFullStalls;
    public long EmptyPolls;
    public long Steps;
    /// <summary>RARP frames received (the back-end's SEND_RARP announcement).</summary>
    public long RarpReceived;
    /// <summary>Continuation buffers of mergeable frames (num_buffers &gt; 1).</summary>
    public long MergeBuffers;
    /// <summary>TX used elements read with IN_ORDER (fewer than buffers when the device batches).</summary>
    public long TxUsedElements;
    /// <summary>Lossy mode: frames not posted because the TX ring had no room at their time.</summary>
    public long TxDropped;
    /// <summary>Lossy mode: frames attempted later than the engine's late limit after their
    /// scheduled time (the generator, not the device, set the pace).</summary>
    public long LateFrames;
    /// <summary>Lossy mode: frames missing in the sequence received (lost on the way).</summary>
    public long SeqGaps;
    /// <summary>Frames of an earlier trial that came back after it ended (not counted received).</summary>
    public long Stale;
    /// <summary>Clock tick of the first frame back since this was last zeroed (reconnect time).</summary>
    public long FirstRxTick;
    /// <summary>Waits ended because the clock read earlier than where they started (the TSC of
    /// another host: the VM was restored or migrated; <see cref="PerfLab.Vhost.Diagnostics.Clock.Expired"/>).</summary>
    public long ClockJumps;

    public EngineCounters Clone() => (EngineCounters)MemberwiseClone();
}

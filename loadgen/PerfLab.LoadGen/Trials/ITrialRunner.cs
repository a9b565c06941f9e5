namespace PerfLab.LoadGen.Trials;

/// <summary>Runs trials on set-up devices: one (<see cref="TrialRunner"/>, on the calling
/// thread) or several at once (<see cref="DeviceSetTrialRunner"/>: busy guests on one shared
/// thread, sleeping ones on a thread each).</summary>
public interface ITrialRunner
{
    /// <summary>Offers <see cref="TrialSpec.RatePps"/> (in total) open loop for
    /// <see cref="TrialSpec.DurationS"/>, drains, and reports.</summary>
    TrialResult Run(TrialSpec spec);

    TrialResult Run(double ratePps, double durationS) => Run(new TrialSpec(ratePps, durationS));

    /// <summary>One frame in flight (per device) for <paramref name="durationS"/>: the latency floor.</summary>
    TrialResult PingPong(double durationS) => Run(TrialSpec.PingPong(durationS));
}

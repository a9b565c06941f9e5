namespace PerfLab.Bench.Method.Search;

/// <summary>What the search needs of one trial (RFC 9971 §"Trial Terms").</summary>
/// <param name="LoadPps">Trial Load: the intended rate, frames/s.</param>
/// <param name="DurationS">Trial Duration: the intended duration.</param>
/// <param name="EffectiveS">Trial Effective Duration: the time it really took (what the sums add).</param>
/// <param name="LossRatio">Trial Loss Ratio: frames offered but not received, over frames offered.</param>
public readonly record struct SearchTrial(double LoadPps, double DurationS, double EffectiveS, double LossRatio)
{
    public double ForwardingPps => LoadPps * (1 - LossRatio);
}

/// <summary>Runs trials for the search: offer <c>loadPps</c> for <c>durationS</c>, report the loss.</summary>
public interface ISearchMeasurer
{
    SearchTrial Measure(double loadPps, double durationS);
}

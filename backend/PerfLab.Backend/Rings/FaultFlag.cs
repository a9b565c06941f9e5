namespace PerfLab.Backend.Rings;

/// <summary>A device's sticky "a ring broke" flag (DEVICE_NEEDS_RESET), raised by whoever
/// finds a ring broken and read by the control plane for GET_STATUS, so neither plane knows
/// the other.</summary>
public sealed class FaultFlag
{
    private int _raised;

    public bool IsRaised => Volatile.Read(ref _raised) != 0;

    public void Raise() => Volatile.Write(ref _raised, 1);

    public void Clear() => Volatile.Write(ref _raised, 0);
}

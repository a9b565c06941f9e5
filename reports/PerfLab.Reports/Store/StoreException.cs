namespace PerfLab.Reports.Store;

/// <summary>A results store that cannot be used as asked (not a PerfLab store, a newer schema,
/// unreachable, refused credentials, no such run): the message says which and what to do.
/// Nothing stored has been changed when it is thrown.</summary>
public sealed class StoreException(string message, Exception? inner = null) : Exception(message, inner);

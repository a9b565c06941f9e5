namespace PerfLab.Vhost.Protocol;

/// <summary>
/// A message the peer sent is malformed or out of order. The message always names the
/// request, the field, the value and the limit, so one log line explains the rejection.
/// Control plane only: the data plane never throws.
/// </summary>
public sealed class VhostProtocolException : Exception
{
    public VhostProtocolException(VhostUserRequest request, string field, string value, string limit)
        : base($"{Name(request)}: {field}={value} rejected: {limit}")
    {
        Request = request;
        Field = field;
        Value = value;
        Limit = limit;
    }

    public VhostProtocolException(VhostUserRequest request, string field, ulong value, string limit)
        : this(request, field, $"0x{value:x}", limit)
    {
    }

    public VhostUserRequest Request { get; }
    public string Field { get; }
    public string Value { get; }
    public string Limit { get; }

    /// <summary>
    /// True when the connection cannot continue (framing is lost, or the front-end must not
    /// go on). False when the request is only refused and an error reply suffices.
    /// </summary>
    public bool Fatal { get; init; } = true;

    /// <summary>The spec's upper-case name, e.g. SET_VRING_ADDR.</summary>
    public static string Name(VhostUserRequest request) => RequestNames.Of(request);
}

/// <summary>Upper-case spec names for requests, for logs.</summary>
public static class RequestNames
{
    private static readonly string[] s_names = BuildNames();

    public static string Of(VhostUserRequest request) =>
        (uint)request < (uint)s_names.Length ? s_names[(uint)request] : $"REQUEST_{(uint)request}";

    private static string[] BuildNames()
    {
        var values = Enum.GetValues<VhostUserRequest>();
        var names = new string[(int)values.Max() + 1];
        foreach (var v in values)
        {
            string n = v.ToString();
            var sb = new System.Text.StringBuilder();
            for (int i = 0; i < n.Length; i++)
            {
                if (i > 0 && char.IsUpper(n[i]))
                {
                    sb.Append('_');
                }
                sb.Append(char.ToUpperInvariant(n[i]));
            }
            names[(int)v] = sb.ToString();
        }
        return names;
    }
}

using System.Globalization;

namespace PerfLab.Vhost.Cli;

/// <summary>
/// A minimal argument reader shared by the CLIs: <c>--name value</c> and <c>--flag</c>, with
/// errors that name the option. Deliberately tiny: both programs have flat option lists.
/// </summary>
public sealed class ArgReader
{
    private readonly string[] _args;
    private int _i = -1;

    public ArgReader(string[] args) => _args = args;

    /// <summary>The option being parsed.</summary>
    public string Current => _args[_i];

    /// <summary>Moves to the next option; false at the end.</summary>
    public bool MoveNext() => ++_i < _args.Length;

    public string String() =>
        _i + 1 < _args.Length ? _args[++_i] : throw new ArgumentException($"{Current} needs a value");

    public double Double()
    {
        string opt = Current;
        string v = String();
        return double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)
            ? d : throw new ArgumentException($"{opt}: '{v}' is not a number");
    }

    public long Long()
    {
        string opt = Current;
        string v = String();
        return TryParseScaled(v, out long l) ? l : throw new ArgumentException($"{opt}: '{v}' is not an integer");
    }

    public int Int()
    {
        string opt = Current;
        long l = Long();
        return l is >= int.MinValue and <= int.MaxValue ? (int)l : throw new ArgumentException($"{opt}: {l} is out of range");
    }

    /// <summary>Integers with an optional k/M/G suffix (decimal): 500k, 2M.</summary>
    public static bool TryParseScaled(string v, out long result)
    {
        long scale = 1;
        if (v.Length > 1)
        {
            switch (char.ToLowerInvariant(v[^1]))
            {
                case 'k': scale = 1_000; v = v[..^1]; break;
                case 'm': scale = 1_000_000; v = v[..^1]; break;
                case 'g': scale = 1_000_000_000; v = v[..^1]; break;
            }
        }
        if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
        {
            result = (long)(d * scale);
            return true;
        }
        result = 0;
        return false;
    }
}

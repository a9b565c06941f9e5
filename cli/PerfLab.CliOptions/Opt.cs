using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace PerfLab.CliOptions;

/// <summary>
/// Option definitions: each option is made once, here or by a CLI, with its name, value name,
/// description, default and the rule its value must follow; help, defaults, validation and
/// errors all come from that one definition. A bad value is one parse error naming the option.
/// </summary>
public static class Opt
{
    private static readonly ConditionalWeakTable<Option, string> s_shown = new();

    /// <summary>The default as help shows it, or null when help shows none.</summary>
    public static string? ShownDefault(Option o) => s_shown.TryGetValue(o, out string? s) ? s : null;

    /// <summary>A value parsed by <paramref name="parse"/>, which returns an error message or null.</summary>
    public delegate string? TryParse<T>(string text, out T value);

    /// <summary>An option whose value is parsed by <paramref name="parse"/>, defaulting to <paramref name="def"/>.</summary>
    /// <param name="shown">The default as help shows it (null: <paramref name="def"/> formatted; "": none).</param>
    public static Option<T> Of<T>(string name, string helpName, string description, T def, TryParse<T> parse, string? shown = null)
    {
        var o = new Option<T>(name)
        {
            Description = description,
            HelpName = helpName,
            DefaultValueFactory = _ => def,
            CustomParser = r =>
            {
                if (r.Tokens.Count == 0)
                {
                    return def;
                }
                string text = r.Tokens[^1].Value;
                string? error = parse(text, out T v);
                if (error != null)
                {
                    r.AddError($"{name}: {error}");
                    return def;
                }
                return v;
            },
        };
        string text = shown ?? Show(def);
        if (text.Length > 0)
        {
            s_shown.AddOrUpdate(o, text);
        }
        return o;
    }

    private static string Show(object? value) => value switch
    {
        null or "" or bool or Array => "",
        int.MaxValue or long.MaxValue => "none",
        double d => d.ToString(CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>Like <see cref="Of{T}"/> with no default: null when not given.</summary>
    public static Option<T?> Optional<T>(string name, string helpName, string description, TryParse<T> parse) where T : class
    {
        return new Option<T?>(name)
        {
            Description = description,
            HelpName = helpName,
            CustomParser = r =>
            {
                if (r.Tokens.Count == 0)
                {
                    return null;
                }
                string? error = parse(r.Tokens[^1].Value, out T v);
                if (error != null)
                {
                    r.AddError($"{name}: {error}");
                    return null;
                }
                return v;
            },
        };
    }

    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    public static Option<string> Text(string name, string helpName, string description, string def) =>
        Of(name, helpName, description, def, (string t, out string v) => { v = t; return null; });

    /// <summary>A text option that may be given several times (each time one value), in order;
    /// <paramref name="def"/> alone when never given.</summary>
    public static Option<string[]> Texts(string name, string helpName, string description, string def)
    {
        var o = new Option<string[]>(name)
        {
            Description = description,
            HelpName = helpName,
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
            DefaultValueFactory = _ => [def],
            CustomParser = r =>
            {
                if (r.Tokens.Count == 0)
                {
                    return [def];
                }
                string[] v = r.Tokens.Select(t => t.Value).ToArray();
                if (v.Any(t => t.Length == 0))
                {
                    r.AddError($"{name}: needs a value");
                }
                return v;
            },
        };
        s_shown.AddOrUpdate(o, def);
        return o;
    }

    public static Option<string?> Path(string name, string description) =>
        Optional(name, "PATH", description, PathValue("a path"));

    /// <summary>A file or folder name: not empty, and not the next option, which the parser hands
    /// over as the value when the path itself was left out ("--sockets --devices 2").</summary>
    public static TryParse<string> PathValue(string what) => (string t, out string v) =>
    {
        v = t;
        return t.Length == 0 ? $"needs {what}"
            : t.StartsWith("--", StringComparison.Ordinal) ? $"needs {what}, not the option '{t}' (was the value left out?)"
            : null;
    };

    public static Option<int> Int(string name, string helpName, string description, int def, int min = int.MinValue, int max = int.MaxValue, string? shown = null) =>
        Of(name, helpName, description, def, (string t, out int v) =>
        {
            v = 0;
            if (!ParseScaled(t, out double d) || d != Math.Floor(d) || d < int.MinValue || d > int.MaxValue)
            {
                return $"'{t}' is not an integer";
            }
            v = (int)d;
            return v >= min && v <= max ? null : $"{v} is not in {min}..{max}";
        }, shown);

    public static Option<long> Long(string name, string helpName, string description, long def, long min = 0, long max = long.MaxValue, string? shown = null) =>
        Of(name, helpName, description, def, (string t, out long v) =>
        {
            v = 0;
            if (!ParseScaled(t, out double d) || d != Math.Floor(d) || d < long.MinValue || d >= 9.2e18)
            {
                return $"'{t}' is not an integer";
            }
            v = (long)d;
            return v >= min && v <= max ? null : $"{v} is not in {min}..{max}";
        }, shown);

    /// <summary>A number (k/M/G suffixes allowed) in [<paramref name="min"/>, <paramref name="max"/>];
    /// with <paramref name="positive"/>, above 0.</summary>
    public static Option<double> Number(string name, string helpName, string description, double def, double min = 0, double max = double.MaxValue, bool positive = false, string? shown = null) =>
        Of(name, helpName, description, def, (string t, out double v) =>
        {
            if (!ParseScaled(t, out v) || double.IsNaN(v) || double.IsInfinity(v))
            {
                return $"'{t}' is not a number";
            }
            if (positive && v <= 0)
            {
                return $"{t} must be above 0";
            }
            return v >= min && v <= max ? null : $"{t} is not in {Bound(min)}..{Bound(max)}";
        }, shown);

    /// <summary>One of <paramref name="choices"/> (the first names appear in help; the others are
    /// accepted aliases).</summary>
    public static Option<T> Choice<T>(string name, string description, T def, (string Name, T Value)[] choices, params (string Name, T Value)[] aliases)
    {
        string names = string.Join('|', choices.Select(c => c.Name));
        return Of(name, names, description, def, (string t, out T v) =>
        {
            foreach (var (n, value) in choices.Concat(aliases))
            {
                if (string.Equals(n, t, StringComparison.OrdinalIgnoreCase))
                {
                    v = value;
                    return null;
                }
            }
            v = def;
            return $"'{t}' is not {string.Join(", ", choices.Select(c => c.Name).SkipLast(1))} or {choices[^1].Name}";
        }, choices.Concat(aliases).FirstOrDefault(c => EqualityComparer<T>.Default.Equals(c.Value, def)).Name ?? "");
    }

    /// <summary>CPUs as a list: 1, or 0,1, or 0-3 (each 0..1023).</summary>
    public static Option<int[]> CpuList(string name, string description) =>
        Of(name, "LIST", description, Array.Empty<int>(), (string t, out int[] v) =>
        {
            var cpus = new List<int>();
            v = [];
            foreach (string part in t.Split(','))
            {
                string[] ends = part.Split('-');
                if (ends.Length > 2 || !int.TryParse(ends[0], NumberStyles.None, CultureInfo.InvariantCulture, out int a)
                    || !int.TryParse(ends[^1], NumberStyles.None, CultureInfo.InvariantCulture, out int b) || a > b || b > 1023)
                {
                    return $"'{t}' is not a CPU list (e.g. 1, 0,1 or 0-3)";
                }
                for (int c = a; c <= b; c++)
                {
                    cpus.Add(c);
                }
            }
            v = [.. cpus];
            return null;
        });

    /// <summary>A bit mask: names from <paramref name="names"/> separated by commas, or 0xHEX.</summary>
    public static Option<ulong> Mask(string name, string description, IReadOnlyList<(string Name, ulong Bits)> names) =>
        Of(name, "LIST", description, 0UL, (string t, out ulong v) =>
        {
            v = 0;
            if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            {
                return ulong.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v)
                    ? null : $"'{t}' is not a hex mask";
            }
            foreach (string n in t.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                int i = IndexOf(names, n);
                if (i < 0)
                {
                    return $"unknown name '{n}' (names: {string.Join(',', names.Select(x => x.Name))}, or 0xMASK)";
                }
                v |= names[i].Bits;
            }
            return null;
        }, shown: "none");

    private static int IndexOf(IReadOnlyList<(string Name, ulong Bits)> names, string n)
    {
        for (int i = 0; i < names.Count; i++)
        {
            if (names[i].Name == n)
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>A decimal number with an optional k/M/G suffix: 500k, 2M, 1.5G.</summary>
    public static bool ParseScaled(string text, out double value)
    {
        double scale = 1;
        string v = text;
        if (v.Length > 1)
        {
            switch (v[^1])
            {
                case 'k' or 'K': scale = 1e3; v = v[..^1]; break;
                case 'm' or 'M': scale = 1e6; v = v[..^1]; break;
                case 'g' or 'G': scale = 1e9; v = v[..^1]; break;
            }
        }
        if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
        {
            value = d * scale;
            return true;
        }
        value = 0;
        return false;
    }

    private static string Bound(double d) => d == double.MaxValue ? "" : d.ToString(CultureInfo.InvariantCulture);
}

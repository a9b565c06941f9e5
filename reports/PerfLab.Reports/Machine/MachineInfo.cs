using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Machine;

/// <summary>What the report says about the machine: CPU, cores, hypervisor, kernel, OS, .NET
/// and the versions of the packages that produced the numbers. Linux sources; a fact that
/// cannot be read is left out rather than guessed.</summary>
public static class MachineInfo
{
    public static void Collect(RunInfo run, params Assembly[] packages)
    {
        run.Set(RunInfo.Host, Environment.MachineName);
        string? cpuinfo = TryRead("/proc/cpuinfo");
        string? model = cpuinfo?.Split('\n').FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        if (model != null)
        {
            run.Set(RunInfo.CpuModel, model);
        }
        run.Set(RunInfo.Cores, $"{Environment.ProcessorCount} online");
        bool virt = cpuinfo?.Contains(" hypervisor", StringComparison.Ordinal) == true;
        string? vendor = LscpuField("Hypervisor vendor");
        if (virt || vendor != null)
        {
            run.Set(RunInfo.Hypervisor, vendor ?? "yes (vendor unknown)");
        }
        string? kernel = TryRead("/proc/sys/kernel/osrelease")?.Trim();
        if (kernel != null)
        {
            run.Set(RunInfo.Kernel, kernel);
        }
        string? os = TryRead("/etc/os-release")?.Split('\n').FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?[12..].Trim('"');
        run.Set(RunInfo.Os, os ?? RuntimeInformation.OSDescription);
        run.Set(RunInfo.DotNet, $"{RuntimeInformation.FrameworkDescription} ({RuntimeInformation.ProcessArchitecture})");
        foreach (Assembly a in packages.Append(typeof(ScottPlot.Plot).Assembly).Append(typeof(CsvHelper.CsvWriter).Assembly).Distinct())
        {
            run.Set(a.GetName().Name ?? "?", PackageVersion(a));
        }
    }

    /// <summary>Steal and total jiffies of all CPUs from /proc/stat, or null: two readings
    /// give the share of the CPU the hypervisor took from this VM in between.</summary>
    public static (long Steal, long Total)? CpuJiffies()
    {
        string? line = TryRead("/proc/stat")?.Split('\n').FirstOrDefault(l => l.StartsWith("cpu ", StringComparison.Ordinal));
        if (line is null)
        {
            return null;
        }
        long[] v = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(x => long.TryParse(x, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out long n) ? n : 0).ToArray();
        return v.Length > 7 ? (v[7], v.Take(8).Sum()) : null;
    }

    /// <summary>Steal between two readings, in % of all CPU time.</summary>
    public static double StealPct((long Steal, long Total)? a, (long Steal, long Total)? b) =>
        a is { } x && b is { } y && y.Total > x.Total ? 100.0 * (y.Steal - x.Steal) / (y.Total - x.Total) : double.NaN;

    /// <summary>"0.52 0.38 0.30" from /proc/loadavg: other work on the machine, for the report.</summary>
    public static string? LoadAverage() => TryRead("/proc/loadavg") is { } s ? string.Join(' ', s.Split(' ').Take(3)) : null;

    /// <summary>The informational version without the commit suffix ("0.15.8").</summary>
    public static string PackageVersion(Assembly a)
    {
        string? v = a.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? a.GetName().Version?.ToString();
        return v is null ? "?" : v.Split('+')[0];
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? LscpuField(string field)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("lscpu") { RedirectStandardOutput = true, UseShellExecute = false });
            if (p is null)
            {
                return null;
            }
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit(5000);
            return output.Split('\n').FirstOrDefault(l => l.StartsWith(field + ":", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // no lscpu
        }
    }
}

using System.Globalization;
using ScottPlot;
using ScottPlot.TickGenerators;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Charts;

/// <summary>A chart written to disk: one PNG and one SVG of the same plot.</summary>
public sealed record RenderedChart(string Stem, string Title, string Caption, string PngPath, string SvgPath, bool HasData)
{
    public string PngFile => Path.GetFileName(PngPath);
    public string SvgFile => Path.GetFileName(SvgPath);
}

/// <summary>What every chart shares: size, colours, saving, the log axes ScottPlot 5 lacks.</summary>
public static class ChartKit
{
    public const int Width = 1000;
    public const int Height = 600;

    private static readonly ScottPlot.Palettes.Category10 Palette = new();

    private static Color ColorOf(int series) => Palette.GetColor(series);

    /// <summary>A strategy's colour, the same in every chart of a report.</summary>
    public static Color ColorOf(Report report, string strategy) => ColorOf(Math.Max(0, Views.Strategies(report.Configs).IndexOf(strategy)));

    /// <summary>Saves <paramref name="plot"/> as STEM.png and STEM.svg in <paramref name="dir"/>.</summary>
    public static RenderedChart Save(Plot plot, string dir, string stem, string title, string caption, bool hasData)
    {
        Directory.CreateDirectory(dir);
        string png = Path.Combine(dir, stem + ".png");
        string svg = Path.Combine(dir, stem + ".svg");
        plot.SavePng(png, Width, Height);
        plot.SaveSvg(svg, Width, Height);
        return new RenderedChart(stem, title, caption, png, svg, hasData);
    }

    /// <summary>A new plot with its title and axis labels (units included by the caller).</summary>
    public static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        return plot;
    }

    /// <summary>Marks a plot that has nothing to show, so that the file still exists and says why.</summary>
    public static void NoData(Plot plot, string why)
    {
        plot.Add.Annotation($"No data in this run: {why}", Alignment.MiddleCenter);
        plot.Axes.SetLimits(0, 1, 0, 1);
    }

    /// <summary>
    /// The y axis shows log10 of the data (the caller transforms it), with decade ticks
    /// labelled in time units and log-spaced minor ticks (ScottPlot 5 has no log switch).
    /// </summary>
    public static void LogTimeAxisY(Plot plot)
    {
        plot.Axes.Left.TickGenerator = new NumericAutomatic
        {
            IntegerTicksOnly = true,
            MinorTickGenerator = new LogMinorTickGenerator(),
            LabelFormatter = y => FormatMicros(Math.Pow(10, y)),
        };
    }

    /// <summary>"800 ns", "12 µs", "3.4 ms" from microseconds.</summary>
    public static string FormatMicros(double us) => us switch
    {
        < 1 => (us * 1000).ToString("0.#", CultureInfo.InvariantCulture) + " ns",
        < 1000 => us.ToString("0.##", CultureInfo.InvariantCulture) + " µs",
        < 1_000_000 => (us / 1000).ToString("0.##", CultureInfo.InvariantCulture) + " ms",
        _ => (us / 1_000_000).ToString("0.##", CultureInfo.InvariantCulture) + " s",
    };

    /// <summary>log10 of a latency in ns, as µs; non-positive values map to 1 ns.</summary>
    public static double LogMicros(double ns) => Math.Log10(Math.Max(ns, 1) / 1000);
}

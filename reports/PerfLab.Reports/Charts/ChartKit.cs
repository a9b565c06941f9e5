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

/// <summary>
/// What every chart shares: size, one colour and marker per configuration (the same in every
/// chart of a report, distinct for as many configurations as a run has), the legend in a panel
/// right of the data, the provenance footer, saving, and the log axes ScottPlot 5 lacks.
/// </summary>
public static class ChartKit
{
    public const int Width = 1200;
    public const int Height = 650;

    /// <summary>25 distinct colours (Tsitsulin's palette); past them the marker shape changes too.</summary>
    private static readonly Color[] Palette = new ScottPlot.Palettes.Tsitsulin().Colors;

    private static readonly MarkerShape[] Shapes = [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond, MarkerShape.FilledTriangleDown];

    /// <summary>The colour and marker of series <paramref name="i"/>: no two series of a chart
    /// share both.</summary>
    public static (Color Color, MarkerShape Shape) StyleOf(int i)
    {
        int n = Palette.Length;
        return (Palette[i % n], Shapes[(i / n) % Shapes.Length]);
    }

    /// <summary>A configuration's style, the same in every chart of a report.</summary>
    public static (Color Color, MarkerShape Shape) StyleOf(Report report, string configId) =>
        StyleOf(Math.Max(0, report.Configs.FindIndex(c => c.Id == configId)));

    public static Color ColorOf(Report report, string configId) => StyleOf(report, configId).Color;

    /// <summary>The open marker of a filled one (the load generator's series).</summary>
    public static MarkerShape Open(MarkerShape s) => s switch
    {
        MarkerShape.FilledSquare => MarkerShape.OpenSquare,
        MarkerShape.FilledTriangleUp => MarkerShape.OpenTriangleUp,
        MarkerShape.FilledDiamond => MarkerShape.OpenDiamond,
        MarkerShape.FilledTriangleDown => MarkerShape.OpenTriangleDown,
        _ => MarkerShape.OpenCircle,
    };

    /// <summary>"PerfLab · commit 1a2b3c · 2026-12-02 22:10 · host h · c2c 55–340 ns over 5 rounds".</summary>
    public static string Provenance(Report report)
    {
        RunInfo run = report.Run;
        var parts = new List<string> { "PerfLab" };
        if (run[RunInfo.GitCommit] is { } commit)
        {
            parts.Add("commit " + commit);
        }
        if (run[RunInfo.Date] is { } date)
        {
            parts.Add(date);
        }
        if (run[RunInfo.Host] is { } host)
        {
            parts.Add("host " + host);
        }
        parts.Add(Summaries.C2cRange(report) is { } c2c ? $"c2c {c2c} over {report.Rounds.Count} rounds" : "c2c not measured");
        return string.Join(" · ", parts);
    }

    /// <summary>Saves <paramref name="plot"/> as STEM.png and STEM.svg in <paramref name="dir"/>,
    /// with the legend right of the data (when the plot has one) and the provenance footer.</summary>
    public static RenderedChart Save(Plot plot, Report report, string dir, string stem, string title, string caption, bool hasData)
    {
        Directory.CreateDirectory(dir);
        if (hasData && plot.GetPlottables().Any(p => p.LegendItems.Any(i => !string.IsNullOrEmpty(i.LabelText))))
        {
            plot.ShowLegend(Edge.Right);
        }
        plot.Axes.AddPanel(new FooterPanel(Provenance(report)));
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

    /// <summary>log10 of a latency in µs; non-positive values map to 1 ns.</summary>
    public static double LogMicros(double us) => Math.Log10(Math.Max(us, 0.001));

    /// <summary>An interval as error-bar lengths below and above <paramref name="v"/> (0 when unknown).</summary>
    public static (double Down, double Up) Whiskers(double v, double low, double high) =>
        (double.IsFinite(low) ? Math.Max(0, v - low) : 0, double.IsFinite(high) ? Math.Max(0, high - v) : 0);
}

/// <summary>A line of small text under the figure: where the numbers come from.</summary>
public sealed class FooterPanel : IPanel
{
    private readonly LabelStyle _label;

    public FooterPanel(string text)
    {
        _label = new LabelStyle
        {
            Text = text,
            FontSize = 11,
            ForeColor = Colors.DimGray,
            Alignment = Alignment.LowerLeft,
        };
    }

    public bool IsVisible { get; set; } = true;
    public Edge Edge => Edge.Bottom;
    public bool ShowDebugInformation { get; set; }
    public float MinimumSize { get; set; }
    public float MaximumSize { get; set; } = float.MaxValue;

    public float Measure(Paint paint) => IsVisible ? _label.Measure(paint).Height + 8 : 0;

    public PixelRect GetPanelRect(PixelRect dataRect, float size, float offset, Paint paint) =>
        new(left: dataRect.Left, right: dataRect.Right, bottom: dataRect.Bottom + offset + size, top: dataRect.Bottom + offset);

    public void Render(RenderPack rp, float size, float offset)
    {
        if (!IsVisible)
        {
            return;
        }
        PixelRect r = GetPanelRect(rp.DataRect, size, offset, rp.Paint);
        _label.Render(rp.Canvas, new Pixel(rp.FigureRect.Left + 6, r.Bottom - 2), rp.Paint);
    }
}

//! The page's plots, drawn by plotters into SVG strings that the page inlines (no image file,
//! no script). Text is drawn as SVG `<text>`, so the browser's own sans-serif font renders it.

use plotters::prelude::*;

use crate::docids::SizeBin;
use crate::error::ReportError;
use crate::training::{Curve, StepBoundary};

/// Line colours, distinguishable and print-friendly (Okabe-Ito).
const COLOURS: [RGBColor; 7] = [
    RGBColor(0, 0, 0),
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];

fn plot_error(plot: &str) -> impl Fn(String) -> ReportError + '_ {
    move |message| ReportError::Plot {
        plot: plot.to_string(),
        message,
    }
}

/// A padded y range covering every point (a flat curve gets a band around its value).
fn y_range<'a>(points: impl Iterator<Item = &'a (f64, f64)>) -> (f64, f64) {
    let (lo, hi) = points.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, y)| {
        (lo.min(y), hi.max(y))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.06
    } else {
        lo.abs().max(1e-6) * 0.1
    };
    (lo - pad, hi + pad)
}

/// A line chart of `curves` over the batch axis `0..x_max`, each step boundary a dashed
/// vertical line labelled at the top.
pub fn line_chart(
    title: &str,
    y_desc: &str,
    curves: &[&Curve],
    boundaries: &[StepBoundary],
    x_max: f64,
    size: (u32, u32),
) -> Result<String, ReportError> {
    let err = plot_error(title);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let (y_lo, y_hi) = y_range(curves.iter().flat_map(|c| c.points()));
        let x_max = x_max.max(1.0);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, y_lo..y_hi)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("batch (all units of the plan, in order)")
            .y_desc(y_desc)
            .light_line_style(RGBColor(235, 235, 235))
            .y_labels(6)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format_tick(*v))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        for boundary in boundaries {
            chart
                .draw_series(DashedLineSeries::new(
                    [(boundary.x, y_lo), (boundary.x, y_hi)],
                    6,
                    4,
                    RGBColor(120, 120, 120).stroke_width(1),
                ))
                .map_err(|e| err(e.to_string()))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    boundary.label.clone(),
                    (boundary.x, y_hi),
                    ("sans-serif", 12).into_font().color(&RGBColor(90, 90, 90)),
                )))
                .map_err(|e| err(e.to_string()))?;
        }
        for (i, curve) in curves.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let width = if i == 0 && curves.len() > 1 { 3 } else { 2 };
            for (j, segment) in curve.segments.iter().enumerate() {
                // A lone point draws no line: mark it.
                let series = LineSeries::new(segment.iter().copied(), colour.stroke_width(width))
                    .point_size(if segment.len() == 1 { 3 } else { 0 });
                let drawn = chart.draw_series(series).map_err(|e| err(e.to_string()))?;
                if j == 0 {
                    drawn.label(curve.name.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(width))
                    });
                }
            }
        }
        if curves.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(180, 180, 180))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|e| err(e.to_string()))?;
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// Tick labels short enough for the axis: `0.0005` -> `5e-4`, `12.5` -> `12.5`.
fn format_tick(v: f64) -> String {
    if v != 0.0 && (v.abs() < 0.01 || v.abs() >= 1e5) {
        format!("{v:.2e}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A histogram of prefix group sizes (one bar per size bin).
pub fn size_histogram_chart(
    title: &str,
    bins: &[SizeBin],
    size: (u32, u32),
) -> Result<String, ReportError> {
    let err = plot_error(title);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let n = bins.len().max(1) as u32;
        let top = bins.iter().map(|b| b.groups).max().unwrap_or(1).max(1) as u32;
        let y_top = top + (top / 10).max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 14))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(48)
            // Segments of 0..=last, one per bin; a single bin gets an empty neighbour (a
            // one-segment axis has no width to draw in, and the browser rejects the bar).
            .build_cartesian_2d((0..n.max(2) - 1).into_segmented(), 0u32..y_top)
            .map_err(|e| err(e.to_string()))?;
        let label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => bins
                .get(*i as usize)
                .map(SizeBin::label)
                .unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(RGBColor(235, 235, 235))
            .x_labels(bins.len().max(1))
            .x_label_formatter(&label)
            .x_desc("documents in the group")
            .y_desc("groups")
            .draw()
            .map_err(|e| err(e.to_string()))?;
        // Bars drawn one by one in bin order (plotters' Histogram groups them in a hash map,
        // which would make the SVG differ from run to run).
        let bars = bins
            .iter()
            .enumerate()
            .filter(|(_, b)| b.groups > 0)
            .map(|(i, b)| {
                let i = i as u32;
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0),
                        (SegmentValue::Exact(i + 1), b.groups as u32),
                    ],
                    COLOURS[1].filled(),
                );
                bar.set_margin(0, 0, 3, 3);
                bar
            });
        chart.draw_series(bars).map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_labels() {
        let curve = Curve {
            name: "total loss".into(),
            segments: vec![vec![(1.0, 2.0), (2.0, 1.0)], vec![(5.0, 0.5)]],
        };
        let svg = line_chart(
            "losses",
            "loss",
            &[&curve],
            &[StepBoundary {
                x: 3.0,
                label: "step 2".into(),
            }],
            6.0,
            (400, 200),
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.contains("step 2") && svg.contains("losses"));

        let bins = [
            SizeBin {
                lo: 1,
                hi: 1,
                groups: 3,
            },
            SizeBin {
                lo: 2,
                hi: 3,
                groups: 1,
            },
        ];
        let svg = size_histogram_chart("level 1", &bins, (300, 200)).unwrap();
        assert!(svg.contains("2-3") && svg.contains("<rect"));
        // One bin (every group a single document) still draws a bar of positive width.
        let svg = size_histogram_chart("level 4", &bins[..1], (300, 200)).unwrap();
        assert!(!svg.contains("width=\"-"), "{svg}");
    }

    #[test]
    fn ticks_stay_short() {
        assert_eq!(format_tick(0.0005), "5.00e-4");
        assert_eq!(format_tick(12.5), "12.5");
        assert_eq!(format_tick(3.0), "3");
        assert_eq!(format_tick(0.0), "0");
    }
}

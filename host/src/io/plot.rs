//! The SVG figures of the CLI and the benchmarks, one writer: a [`Chart`] (axes with round ticks,
//! histogram bars, line series, scatter points, a legend; linear or log₁₀ y) and, on top of it,
//! the CLI's ELBO/W₁ curves ([`line_chart`]) and real-vs-generated scatter ([`scatter`]); plus
//! the latent traversal's grid of grey-level images ([`image_grid`]), which has no axes.
//! `crabmix-bench` draws the crab histogram with its densities and the throughput curves with
//! [`Chart`] directly.
//!
//! Hand-written rather than `plotters`: plotters without its `ttf` feature would draw these too
//! (its SVG backend needs no font or raster stack), but every figure here is a few dozen SVG
//! elements, and one more dependency tree costs build time on the two-core CI machines for
//! nothing these ~300 lines do not already do (its build cost was not measured).
//!
//! NaN contract: non-finite values are skipped in the line chart and scatter plot (an empty or
//! all-NaN series draws axes only); image pixels are clamped to [0, 1], NaN drawn as 0.

use std::fmt::Write as _;

/// One thing drawn on a chart.
#[derive(Clone, Debug)]
pub enum Series {
    /// Bars from `(left, right, height)` triples.
    Bars {
        /// Legend label.
        label: String,
        /// Fill colour (CSS).
        color: String,
        /// (left edge, right edge, height).
        bars: Vec<(f64, f64, f64)>,
    },
    /// A polyline through `points`.
    Line {
        /// Legend label.
        label: String,
        /// Stroke colour (CSS).
        color: String,
        /// Stroke width in pixels.
        width: f64,
        /// Dash pattern (`""` for solid).
        dash: String,
        /// (x, y) points in data coordinates.
        points: Vec<(f64, f64)>,
    },
    /// Dots at `points`.
    Scatter {
        /// Legend label.
        label: String,
        /// Fill colour (CSS).
        color: String,
        /// Dot radius in pixels.
        radius: f64,
        /// (x, y) points in data coordinates.
        points: Vec<(f64, f64)>,
    },
}

/// A chart: title, axis labels, data ranges and series, rendered by [`Chart::to_svg`].
#[derive(Clone, Debug)]
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// x range (min, max).
    pub x_range: (f64, f64),
    /// y range (min, max).
    pub y_range: (f64, f64),
    /// What to draw, in order.
    pub series: Vec<Series>,
    /// Use a log₁₀ y axis (ranges must be positive).
    pub log_y: bool,
}

const W: f64 = 800.0;
const H: f64 = 500.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// About five round tick values covering [lo, hi].
pub fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).abs().max(f64::MIN_POSITIVE);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| span / s <= 6.0).unwrap_or(10.0 * mag);
    // Integer multiples of the step (no accumulated rounding), rounded to the step's decimals.
    let decimals = (-step.log10().floor()).max(0.0) as i32 + 1;
    let round = |v: f64| {
        let f = 10f64.powi(decimals);
        (v * f).round() / f
    };
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| round(i as f64 * step)).collect()
}

fn fmt_tick(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.0e}")
    } else {
        format!("{}", (v * 1e6).round() / 1e6)
    }
}

impl Chart {
    fn sx(&self, x: f64) -> f64 {
        LEFT + (x - self.x_range.0) / (self.x_range.1 - self.x_range.0) * (W - LEFT - RIGHT)
    }
    fn sy(&self, y: f64) -> f64 {
        let (lo, hi, y) = if self.log_y {
            (self.y_range.0.log10(), self.y_range.1.log10(), y.max(self.y_range.0).log10())
        } else {
            (self.y_range.0, self.y_range.1, y)
        };
        H - BOTTOM - (y - lo) / (hi - lo) * (H - TOP - BOTTOM)
    }

    /// The chart as a standalone SVG document.
    pub fn to_svg(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="13">"#
        );
        let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="28" text-anchor="middle" font-size="16">{}</text>"#,
            W / 2.0,
            escape(&self.title)
        );
        let (x0, x1, y0, y1) = (LEFT, W - RIGHT, TOP, H - BOTTOM);
        let _ = writeln!(
            s,
            r#"<rect x="{x0}" y="{y0}" width="{}" height="{}" fill="none" stroke="black"/>"#,
            x1 - x0,
            y1 - y0
        );
        for t in ticks(self.x_range.0, self.x_range.1) {
            let x = self.sx(t);
            let _ =
                writeln!(s, r#"<line x1="{x:.1}" y1="{y1}" x2="{x:.1}" y2="{}" stroke="black"/>"#, y1 + 5.0);
            let _ = writeln!(
                s,
                r#"<text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
                y1 + 20.0,
                fmt_tick(t)
            );
        }
        let yt: Vec<f64> = if self.log_y {
            let (a, b) = (self.y_range.0.log10().ceil() as i32, self.y_range.1.log10().floor() as i32);
            (a..=b).map(|e| 10f64.powi(e)).collect()
        } else {
            ticks(self.y_range.0, self.y_range.1)
        };
        for t in yt {
            let y = self.sy(t);
            let _ =
                writeln!(s, r#"<line x1="{}" y1="{y:.1}" x2="{x0}" y2="{y:.1}" stroke="black"/>"#, x0 - 5.0);
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                x0 - 8.0,
                y + 4.0,
                fmt_tick(t)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            (x0 + x1) / 2.0,
            H - 15.0,
            escape(&self.x_label)
        );
        let _ = writeln!(
            s,
            r#"<text x="20" y="{}" text-anchor="middle" transform="rotate(-90 20 {})">{}</text>"#,
            (y0 + y1) / 2.0,
            (y0 + y1) / 2.0,
            escape(&self.y_label)
        );
        let _ = writeln!(
            s,
            r#"<clipPath id="plot"><rect x="{x0}" y="{y0}" width="{}" height="{}"/></clipPath><g clip-path="url(#plot)">"#,
            x1 - x0,
            y1 - y0
        );
        for series in &self.series {
            match series {
                Series::Bars { color, bars, .. } => {
                    for &(l, r, h) in bars {
                        let (xl, xr, yt, yb) =
                            (self.sx(l), self.sx(r), self.sy(h), self.sy(self.y_range.0.max(0.0)));
                        let _ = writeln!(
                            s,
                            r#"<rect x="{xl:.2}" y="{yt:.2}" width="{:.2}" height="{:.2}" fill="{color}" stroke="white" stroke-width="0.5"/>"#,
                            (xr - xl).max(0.0),
                            (yb - yt).max(0.0)
                        );
                    }
                }
                Series::Line { color, width, dash, points, .. } => {
                    let pts: Vec<String> =
                        points.iter().map(|&(x, y)| format!("{:.2},{:.2}", self.sx(x), self.sy(y))).collect();
                    let _ = writeln!(
                        s,
                        r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="{width}" stroke-dasharray="{dash}"/>"#,
                        pts.join(" ")
                    );
                }
                Series::Scatter { color, radius, points, .. } => {
                    for &(x, y) in points {
                        let _ = writeln!(
                            s,
                            r#"<circle cx="{:.2}" cy="{:.2}" r="{radius}" fill="{color}"/>"#,
                            self.sx(x),
                            self.sy(y)
                        );
                    }
                }
            }
        }
        let _ = writeln!(s, "</g>");
        let labelled = self.series.iter().filter_map(|series| match series {
            Series::Bars { label, color, .. }
            | Series::Line { label, color, .. }
            | Series::Scatter { label, color, .. } => (!label.is_empty()).then_some((label, color)),
        });
        for (i, (label, color)) in labelled.enumerate() {
            let y = y0 + 18.0 + 18.0 * i as f64;
            let _ = writeln!(
                s,
                r#"<rect x="{}" y="{}" width="14" height="10" fill="{color}"/>"#,
                x1 - 240.0,
                y - 9.0
            );
            let _ = writeln!(s, r#"<text x="{}" y="{y}">{}</text>"#, x1 - 220.0, escape(label));
        }
        s.push_str("</svg>\n");
        s
    }
}

/// (min, max) of the finite values, widened to a non-empty range; (0, 1) when there are none.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        (0.0, 1.0)
    } else if hi - lo < 1e-12 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    }
}

/// A line chart of `ys` against 1, 2, …, n (epochs or iterations); non-finite values skipped.
pub fn line_chart(title: &str, xlabel: &str, ylabel: &str, ys: &[f64]) -> String {
    let points: Vec<(f64, f64)> =
        ys.iter().enumerate().filter(|(_, y)| y.is_finite()).map(|(i, &y)| (i as f64 + 1.0, y)).collect();
    Chart {
        title: title.into(),
        x_label: xlabel.into(),
        y_label: ylabel.into(),
        x_range: (1.0, ys.len().max(2) as f64),
        y_range: range(ys.iter().copied()),
        series: vec![Series::Line {
            label: String::new(),
            color: "steelblue".into(),
            width: 1.5,
            dash: String::new(),
            points,
        }],
        log_y: false,
    }
    .to_svg()
}

/// A scatter plot of two point sets (real in grey, generated in red) with equal axis scales, each
/// labelled with its name and size; non-finite points skipped.
pub fn scatter(title: &str, a: (&str, &[[f64; 2]]), b: (&str, &[[f64; 2]])) -> String {
    let all = || a.1.iter().chain(b.1.iter());
    let (xr, yr) = (range(all().map(|p| p[0])), range(all().map(|p| p[1])));
    // Equal scales: widen the narrower range so a circle stays a circle.
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let s = ((xr.1 - xr.0) / pw).max((yr.1 - yr.0) / ph) * 1.05;
    let (cx, cy) = ((xr.0 + xr.1) / 2.0, (yr.0 + yr.1) / 2.0);
    let series = [(a, "#888888"), (b, "#d62728")]
        .into_iter()
        .map(|((name, pts), color)| Series::Scatter {
            label: format!("{name} ({})", pts.len()),
            color: color.into(),
            radius: 1.6,
            points: pts
                .iter()
                .filter(|p| p[0].is_finite() && p[1].is_finite())
                .map(|p| (p[0], p[1]))
                .collect(),
        })
        .collect();
    Chart {
        title: title.into(),
        x_label: "x₁".into(),
        y_label: "x₂".into(),
        x_range: (cx - s * pw / 2.0, cx + s * pw / 2.0),
        y_range: (cy - s * ph / 2.0, cy + s * ph / 2.0),
        series,
        log_y: false,
    }
    .to_svg()
}

fn header(out: &mut String, w: f64, h: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(out, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = write!(
        out,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>"#,
        w / 2.0,
        escape(title)
    );
}

/// A grid of `side`×`side` grey-level images (row-major pixels in [0, 1], 1 = black ink as the
/// digits are stored), `cols` per row, each row labelled by `row_labels[r]`, the columns by
/// `col_labels` (e.g. the latent value).
pub fn image_grid(
    title: &str,
    images: &[Vec<f32>],
    side: usize,
    cols: usize,
    row_labels: &[String],
    col_labels: &[String],
) -> String {
    let cell = 6.0; // pixels per image pixel
    let gap = 4.0;
    let img = side as f64 * cell;
    let rows = images.len().div_ceil(cols.max(1));
    let (left, top) = (70.0, 40.0);
    let w = left + cols as f64 * (img + gap) + 10.0;
    let h = top + rows as f64 * (img + gap) + 10.0;
    let mut out = String::new();
    header(&mut out, w, h, title);
    for (c, label) in col_labels.iter().enumerate().take(cols) {
        let x = left + c as f64 * (img + gap) + img / 2.0;
        let _ = write!(
            out,
            r#"<text x="{x}" y="{}" text-anchor="middle" font-size="10">{}</text>"#,
            top - 6.0,
            escape(label)
        );
    }
    for (k, pixels) in images.iter().enumerate() {
        let (r, c) = (k / cols.max(1), k % cols.max(1));
        let (x0, y0) = (left + c as f64 * (img + gap), top + r as f64 * (img + gap));
        if c == 0
            && let Some(l) = row_labels.get(r)
        {
            let _ = write!(
                out,
                r#"<text x="{}" y="{}" text-anchor="end" font-size="11">{}</text>"#,
                left - 6.0,
                y0 + img / 2.0 + 4.0,
                escape(l)
            );
        }
        for (p, v) in pixels.iter().enumerate().take(side * side) {
            let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
            let g = (255.0 * (1.0 - v)).round() as u8;
            let (px, py) = (x0 + (p % side) as f64 * cell, y0 + (p / side) as f64 * cell);
            let _ = write!(
                out,
                r#"<rect x="{px}" y="{py}" width="{cell}" height="{cell}" fill="rgb({g},{g},{g})"/>"#
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 1.0), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let t = ticks(0.58, 0.70);
        assert_eq!(t.first().copied(), Some(0.58));
        assert!(t.iter().all(|v| (0.58..=0.70 + 1e-12).contains(v)));
    }

    #[test]
    fn svg_has_every_series() {
        let c = Chart {
            title: "t<1>".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_range: (0.0, 1.0),
            y_range: (0.0, 2.0),
            series: vec![
                Series::Bars { label: "h".into(), color: "#ccc".into(), bars: vec![(0.0, 0.5, 1.0)] },
                Series::Line {
                    label: "l".into(),
                    color: "red".into(),
                    width: 2.0,
                    dash: "".into(),
                    points: vec![(0.0, 0.0), (1.0, 2.0)],
                },
                Series::Scatter {
                    label: "p".into(),
                    color: "blue".into(),
                    radius: 2.0,
                    points: vec![(0.5, 0.5)],
                },
            ],
            log_y: false,
        };
        let svg = c.to_svg();
        assert!(svg.contains("t&lt;1&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<circle").count(), 1);
        // The bar spans half the plot width: (800 − 80 − 20) / 2 = 350 px.
        assert!(svg.contains(r#"width="350.00""#), "{svg}");
    }

    #[test]
    fn figures_are_well_formed_and_contain_their_marks() {
        let l = line_chart("ELBO", "epoch", "nats", &[-40.0, -30.0, f64::NAN, -25.0]);
        assert!(l.starts_with("<svg") && l.ends_with("</svg>\n"));
        let points = l.split("points=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(points.split_whitespace().count(), 3, "three finite points");
        let g =
            image_grid("t", &[vec![0.0; 4], vec![1.0; 4]], 2, 2, &["z0".into()], &["-1".into(), "1".into()]);
        assert_eq!(g.matches("rgb(255,255,255)").count(), 4);
        assert_eq!(g.matches("rgb(0,0,0)").count(), 4);
        let s = scatter("ring", ("real", &[[0.0, 0.0], [1.0, 1.0]]), ("fake", &[[0.5, f64::NAN]]));
        assert_eq!(s.matches("r=\"1.6\"").count(), 2);
        assert!(s.contains("real (2)") && s.contains("fake (1)"));
    }
}

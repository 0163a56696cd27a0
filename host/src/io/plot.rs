//! Hand-written SVG figures for the CLI: a line chart (ELBO or W₁ curves), a grid of grey-level
//! images (the latent traversal, lecture Fig. 7) and a two-series scatter plot (real vs
//! generated). No plotting dependency: each figure is a few dozen SVG elements, and the 2-core
//! build stays fast.
//!
//! NaN contract: non-finite values are skipped in the line chart and scatter plot (an empty or
//! all-NaN series draws axes only); image pixels are clamped to [0, 1], NaN drawn as 0.

use std::fmt::Write;

const W: f64 = 640.0;
const H: f64 = 400.0;
const MARGIN: f64 = 56.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
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

/// Axes box with min/max tick labels for a plot area mapping [x0, x1] × [y0, y1].
fn axes(out: &mut String, (x0, x1): (f64, f64), (y0, y1): (f64, f64), xlabel: &str, ylabel: &str) {
    let (l, r, t, b) = (MARGIN, W - MARGIN / 2.0, MARGIN / 1.5, H - MARGIN);
    let _ = write!(
        out,
        r#"<rect x="{l}" y="{t}" width="{}" height="{}" fill="none" stroke="black"/>"#,
        r - l,
        b - t
    );
    let _ = write!(out, r#"<text x="{l}" y="{}" text-anchor="start">{}</text>"#, b + 16.0, fmt_tick(x0));
    let _ = write!(out, r#"<text x="{r}" y="{}" text-anchor="end">{}</text>"#, b + 16.0, fmt_tick(x1));
    let _ = write!(out, r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, l - 4.0, b, fmt_tick(y0));
    let _ =
        write!(out, r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, l - 4.0, t + 10.0, fmt_tick(y1));
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (l + r) / 2.0,
        H - 12.0,
        escape(xlabel)
    );
    let _ = write!(
        out,
        r#"<text x="14" y="{}" text-anchor="middle" transform="rotate(-90 14 {})">{}</text>"#,
        (t + b) / 2.0,
        (t + b) / 2.0,
        escape(ylabel)
    );
}

fn fmt_tick(v: f64) -> String {
    if v.abs() >= 1000.0 || (v != 0.0 && v.abs() < 0.01) { format!("{v:.2e}") } else { format!("{v:.3}") }
}

/// Maps data coordinates into the plot area.
fn to_px(v: f64, (a, b): (f64, f64), (pa, pb): (f64, f64)) -> f64 {
    pa + (v - a) / (b - a) * (pb - pa)
}

/// A line chart of `ys` against 1, 2, …, n (epochs or iterations).
pub fn line_chart(title: &str, xlabel: &str, ylabel: &str, ys: &[f64]) -> String {
    let mut out = String::new();
    header(&mut out, W, H, title);
    let xr = (1.0, ys.len().max(2) as f64);
    let yr = range(ys.iter().copied());
    axes(&mut out, xr, yr, xlabel, ylabel);
    let (px, py) = ((MARGIN, W - MARGIN / 2.0), (H - MARGIN, MARGIN / 1.5));
    let pts: Vec<String> = ys
        .iter()
        .enumerate()
        .filter(|(_, y)| y.is_finite())
        .map(|(i, &y)| format!("{:.2},{:.2}", to_px(i as f64 + 1.0, xr, px), to_px(y, yr, py)))
        .collect();
    let _ = write!(
        out,
        r#"<polyline fill="none" stroke="steelblue" stroke-width="1.5" points="{}"/>"#,
        pts.join(" ")
    );
    out.push_str("</svg>\n");
    out
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
        if c == 0 {
            if let Some(l) = row_labels.get(r) {
                let _ = write!(
                    out,
                    r#"<text x="{}" y="{}" text-anchor="end" font-size="11">{}</text>"#,
                    left - 6.0,
                    y0 + img / 2.0 + 4.0,
                    escape(l)
                );
            }
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

/// A scatter plot of two point sets (e.g. real in grey, generated in red), equal axis scales.
pub fn scatter(title: &str, a: (&str, &[[f64; 2]]), b: (&str, &[[f64; 2]])) -> String {
    let mut out = String::new();
    header(&mut out, W, H, title);
    let all = || a.1.iter().chain(b.1.iter());
    let xr = range(all().map(|p| p[0]));
    let yr = range(all().map(|p| p[1]));
    // Equal scales: widen the narrower range so a circle stays a circle.
    let (pw, ph) = (W - 1.5 * MARGIN, H - MARGIN - MARGIN / 1.5);
    let s = ((xr.1 - xr.0) / pw).max((yr.1 - yr.0) / ph) * 1.05;
    let (cx, cy) = ((xr.0 + xr.1) / 2.0, (yr.0 + yr.1) / 2.0);
    let (xr, yr) = ((cx - s * pw / 2.0, cx + s * pw / 2.0), (cy - s * ph / 2.0, cy + s * ph / 2.0));
    axes(&mut out, xr, yr, "x₁", "x₂");
    let (px, py) = ((MARGIN, W - MARGIN / 2.0), (H - MARGIN, MARGIN / 1.5));
    for ((name, pts), color, ly) in [(a, "#888888", 40.0), (b, "#d62728", 56.0)] {
        for p in pts.iter().filter(|p| p[0].is_finite() && p[1].is_finite()) {
            let _ = write!(
                out,
                r#"<circle cx="{:.2}" cy="{:.2}" r="1.6" fill="{color}" fill-opacity="0.5"/>"#,
                to_px(p[0], xr, px),
                to_px(p[1], yr, py)
            );
        }
        let _ = write!(out, r#"<circle cx="{}" cy="{}" r="4" fill="{color}"/>"#, MARGIN + 10.0, ly);
        let _ = write!(
            out,
            r#"<text x="{}" y="{}">{} ({})</text>"#,
            MARGIN + 18.0,
            ly + 4.0,
            escape(name),
            pts.len()
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

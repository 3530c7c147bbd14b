//! Charts drawn on the server as SVG: no script, readable without colours (each bar carries
//! its value as text), with a title and a description for screen readers, and the table of
//! the same numbers beside it (in the templates). Every bar that counts a list is a link to it.

use super::{format, Chart, Unit};
use crate::text::escaped;

const WIDTH: i64 = 640;
const LABEL: i64 = 190;
const ROW: i64 = 30;
const COL_HEIGHT: i64 = 180;

/// The SVG of a chart. `currency` and `french` format the values as the tables do.
pub fn svg(chart: &Chart, currency: &str, french: bool) -> String {
    if chart.series {
        columns(chart, currency, french)
    } else {
        bars(chart, currency, french)
    }
}

fn head(chart: &Chart, height: i64) -> String {
    let id = chart.id;
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" width=\"100%\" role=\"group\" aria-labelledby=\"{id}-t {id}-d\" \
         preserveAspectRatio=\"xMinYMin meet\"><title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">{}</desc>",
        escaped(&chart.title),
        escaped(&chart.note)
    )
}

fn value(chart: &Chart, v: i64, currency: &str, french: bool) -> String {
    escaped(&format(v, chart.unit, currency, french))
}

/// Horizontal bars, one row per category; the previous period as a thin bar under each.
fn bars(chart: &Chart, currency: &str, french: bool) -> String {
    let n = chart.bars.len().max(1) as i64;
    let height = n * ROW + 8;
    let max = chart.bars.iter().flat_map(|b| [b.value, b.previous.unwrap_or(0)]).max().unwrap_or(0).max(1);
    let room = WIDTH - LABEL - 110;
    let mut out = head(chart, height);
    for (i, b) in chart.bars.iter().enumerate() {
        let y = i as i64 * ROW + 4;
        let w = (b.value.max(0) * room) / max;
        let label = escaped(&b.label);
        let shown = value(chart, b.value, currency, french);
        if let Some(h) = &b.href {
            out.push_str(&format!("<a href=\"{}\" class=\"chart-link\">", escaped(h)));
        }
        out.push_str(&format!(
            "<g class=\"chart-row\"><title>{label}: {shown}</title>\
             <text x=\"{}\" y=\"{}\" class=\"chart-label\" text-anchor=\"end\">{}</text>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{}\" height=\"16\" rx=\"3\" class=\"chart-bar\"/>",
            LABEL - 8,
            y + 13,
            escaped(&truncate(&b.label, 28)),
            w.max(if b.value > 0 { 2 } else { 0 }),
        ));
        if let Some(p) = b.previous {
            let pw = (p.max(0) * room) / max;
            out.push_str(&format!(
                "<rect x=\"{LABEL}\" y=\"{}\" width=\"{}\" height=\"4\" rx=\"2\" class=\"chart-prev\"/>",
                y + 19,
                pw.max(1)
            ));
        }
        out.push_str(&format!("<text x=\"{}\" y=\"{}\" class=\"chart-value\">{shown}</text></g>", LABEL + w + 6, y + 13));
        if b.href.is_some() {
            out.push_str("</a>");
        }
    }
    out.push_str("</svg>");
    out
}

/// Columns over time, the previous period as a line of dots; labels under a few of them.
fn columns(chart: &Chart, currency: &str, french: bool) -> String {
    let n = chart.bars.len().max(1) as i64;
    let height = COL_HEIGHT + 40;
    let max = chart.bars.iter().flat_map(|b| [b.value, b.previous.unwrap_or(0)]).max().unwrap_or(0).max(1);
    let left = 44;
    let slot = (WIDTH - left - 8) / n;
    let w = (slot * 7 / 10).max(2);
    let every = (n / 10).max(1);
    let mut out = head(chart, height);
    // The scale: the maximum and half of it.
    for (frac, y) in [(1, 8), (2, 8 + COL_HEIGHT / 2)] {
        out.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{WIDTH}\" y1=\"{y}\" y2=\"{y}\" class=\"chart-grid\"/><text x=\"{}\" y=\"{}\" class=\"chart-axis\" text-anchor=\"end\">{}</text>",
            left - 4,
            y + 4,
            value(chart, max / frac, currency, french)
        ));
    }
    out.push_str(&format!(
        "<line x1=\"{left}\" x2=\"{WIDTH}\" y1=\"{}\" y2=\"{}\" class=\"chart-axis-line\"/>",
        8 + COL_HEIGHT,
        8 + COL_HEIGHT
    ));
    for (i, b) in chart.bars.iter().enumerate() {
        let x = left + i as i64 * slot + (slot - w) / 2;
        let h = (b.value.max(0) * COL_HEIGHT) / max;
        let y = 8 + COL_HEIGHT - h;
        let shown = value(chart, b.value, currency, french);
        if let Some(href) = &b.href {
            out.push_str(&format!("<a href=\"{}\" class=\"chart-link\">", escaped(href)));
        }
        out.push_str(&format!(
            "<g class=\"chart-col\"><title>{}: {shown}</title><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{}\" rx=\"2\" class=\"chart-bar\"/>",
            escaped(&b.label),
            h.max(if b.value > 0 { 1 } else { 0 })
        ));
        if let Some(p) = b.previous {
            let py = 8 + COL_HEIGHT - (p.max(0) * COL_HEIGHT) / max;
            out.push_str(&format!("<circle cx=\"{}\" cy=\"{py}\" r=\"2.5\" class=\"chart-prev\"/>", x + w / 2));
        }
        out.push_str("</g>");
        if b.href.is_some() {
            out.push_str("</a>");
        }
        if i as i64 % every == 0 {
            out.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" class=\"chart-axis\" text-anchor=\"middle\">{}</text>",
                x + w / 2,
                COL_HEIGHT + 26,
                escaped(&b.label)
            ));
        }
    }
    out.push_str("</svg>");
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

/// The share of a bar in its chart, for the tables (`Unit::Count` charts only).
pub fn share(chart: &Chart, v: i64) -> Option<i64> {
    (chart.unit == Unit::Count).then(|| super::permille(v, chart.total())).flatten()
}

#[cfg(test)]
mod tests {
    use super::super::{Bar, Chart, Unit};
    use super::*;

    fn chart(series: bool) -> Chart {
        Chart {
            id: "c",
            title: "Leads <by> type".into(),
            note: "n".into(),
            unit: Unit::Count,
            series,
            bars: vec![
                Bar { code: "a".into(), label: "A & B".into(), value: 3, previous: Some(1), href: Some("/x?a=1&b=2".into()) },
                Bar { code: "b".into(), label: "C".into(), value: 0, previous: None, href: None },
            ],
            extra: None,
        }
    }

    #[test]
    fn svg_is_escaped_linked_and_titled() {
        for series in [false, true] {
            let s = svg(&chart(series), "CAD", true);
            assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
            assert!(s.contains("<title id=\"c-t\">Leads &#60;by&#62; type</title>"));
            assert!(s.contains("href=\"/x?a=1&#38;b=2\""));
            assert!(s.contains("A &#38; B"));
            assert!(!s.contains("<by>"));
            assert_eq!(s.matches("<a ").count(), 1);
        }
    }
}

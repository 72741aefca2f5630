"""A drift report as one standalone HTML page: a verdict, a table of every feature, a chart per drifted one.

Pictures, because people look at drift rather than read it: each feature at warn or alert level gets the
reference's and the current window's shares per bin as grouped bars in inline SVG. The page needs no network, no
script and no stylesheet from elsewhere, so it opens from an artifact store, a mail attachment or a local file.
Every text that comes from data (feature names, categories, URIs) is escaped.
"""

from __future__ import annotations

import math
from html import escape

from ml_pipeline.monitoring.drift import DriftReport, FeatureDrift

COLOURS = {"stable": "#2e7d32", "warn": "#ef8f00", "alert": "#c62828"}
REFERENCE_FILL, CURRENT_FILL = "#8fa8c8", "#e0762b"
LINK_SCHEMES = ("http://", "https://", "file://", "s3://")
GROUP_WIDTH, BAR_WIDTH, PLOT_HEIGHT = 56, 22, 200
LEFT, TOP, BOTTOM = 60, 30, 110
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
.banner { padding: .8em 1.2em; border-radius: 6px; color: #fff; font-size: 1.1em; }
table { border-collapse: collapse; margin: 1.5em 0; }
th, td { padding: .35em .8em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.status { font-weight: 600; }
svg text { font-size: 11px; fill: #333; }
.note { color: #666; font-size: .9em; }
"""


def render_html(report: DriftReport, title: str, links: dict[str, str] | None = None) -> str:
    """The report as a standalone HTML page.

    Args:
        report: The drift report to draw.
        title: The page's title and heading (e.g. the model and the two windows).
        links: Named links shown under the heading (the data, the MLflow run); only http(s), file and s3 URIs
            become links, anything else is shown as text.

    Returns:
        The page, ready to be written to a ``.html`` file.
    """
    drifted = [f for f in report.features if f.status != "stable"]
    charts = "".join(f"<h3>{escape(f.feature)}: {escape(f.method)} {f.score:.4f} ({f.status})</h3>\n{bar_chart(f)}\n"
                     for f in drifted)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n<h1>{escape(title)}</h1>\n{_links(links or {})}"
            f"<div class=\"banner\" style=\"background:{COLOURS[report.status]}\"><b>{report.status.upper()}</b>: "
            f"{escape(report.verdict())}</div>\n{_table(report)}{charts}"
            "<p class=\"note\">PSI = Σ (current − reference) · ln(current / reference) over the bins, shares floored "
            "at 0.0001. psi_quantile: numeric, bins at the reference's deciles plus a NaN bin; psi_categorical: the "
            "reference's categories, an __unseen__ bin and a NaN bin; wasserstein_normed: how far the values "
            "moved (the Wasserstein-1 distance of the quantile functions) in reference standard deviations, drawn on "
            "the decile bins.</p>\n</body></html>\n")


def bar_chart(feature: FeatureDrift) -> str:
    """Reference and current shares per bin of one feature as grouped bars, in inline SVG with labelled axes."""
    top = max([*feature.reference_shares, *feature.current_shares, 0.01])
    scale = math.ceil(top * 10) / 10  # the y axis ends at the next 10 %
    width = LEFT + GROUP_WIDTH * len(feature.labels) + 20
    parts = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{TOP + PLOT_HEIGHT + BOTTOM}\" "
             f"role=\"img\" aria-label=\"{escape(feature.feature)}: reference and current shares per bin\">"]
    parts += _axes(scale, width)
    for i, label in enumerate(feature.labels):
        x = LEFT + GROUP_WIDTH * i + (GROUP_WIDTH - 2 * BAR_WIDTH) / 2
        for offset, (name, fill, share) in enumerate((("reference", REFERENCE_FILL, feature.reference_shares[i]),
                                                      ("current", CURRENT_FILL, feature.current_shares[i]))):
            height = PLOT_HEIGHT * share / scale
            parts.append(f"<rect x=\"{x + offset * BAR_WIDTH:.1f}\" y=\"{TOP + PLOT_HEIGHT - height:.1f}\" "
                         f"width=\"{BAR_WIDTH - 2}\" height=\"{height:.1f}\" fill=\"{fill}\"><title>"
                         f"{escape(label)}: {name} {share:.2%}</title></rect>")
        centre = x + BAR_WIDTH
        short = label if len(label) <= 18 else label[:17] + "…"
        parts.append(f"<text x=\"{centre:.1f}\" y=\"{TOP + PLOT_HEIGHT + 14}\" text-anchor=\"end\" "
                     f"transform=\"rotate(-40 {centre:.1f} {TOP + PLOT_HEIGHT + 14})\">{escape(short)}</text>")
    return "\n".join([*parts, "</svg>"])


def _axes(scale: float, width: int) -> list[str]:
    """Y axis with ticks in percent, the x axis line, the axis titles and the legend."""
    base = TOP + PLOT_HEIGHT
    lines = [f"<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{base}\" stroke=\"#555\"/>",
             f"<line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{width - 10}\" y2=\"{base}\" stroke=\"#555\"/>"]
    for step in range(5):
        y = base - PLOT_HEIGHT * step / 4
        lines.append(f"<line x1=\"{LEFT - 4}\" y1=\"{y:.1f}\" x2=\"{width - 10}\" y2=\"{y:.1f}\" stroke=\"#eee\"/>"
                     f"<text x=\"{LEFT - 6}\" y=\"{y + 4:.1f}\" text-anchor=\"end\">{scale * step * 25:g}%</text>")
    lines += [f"<text x=\"14\" y=\"{TOP + PLOT_HEIGHT / 2}\" text-anchor=\"middle\" "
              f"transform=\"rotate(-90 14 {TOP + PLOT_HEIGHT / 2})\">share of rows</text>",
              f"<text x=\"{(LEFT + width) / 2:.0f}\" y=\"{base + BOTTOM - 6}\" text-anchor=\"middle\">bin</text>",
              f"<rect x=\"{LEFT + 10}\" y=\"8\" width=\"12\" height=\"12\" fill=\"{REFERENCE_FILL}\"/>"
              f"<text x=\"{LEFT + 26}\" y=\"18\">reference</text>",
              f"<rect x=\"{LEFT + 100}\" y=\"8\" width=\"12\" height=\"12\" fill=\"{CURRENT_FILL}\"/>"
              f"<text x=\"{LEFT + 116}\" y=\"18\">current</text>"]
    return lines


def _table(report: DriftReport) -> str:
    """Every feature: method, score, levels, status, NaN rates and the unseen share."""
    head = ("<tr><th>feature</th><th>method</th><th>PSI</th><th>warn</th><th>alert</th><th>status</th>"
            "<th>NaN rate (reference → current)</th><th>unseen share</th></tr>")
    rows = [f"<tr><td>{escape(f.feature)}</td><td>{escape(f.method)}</td><td>{f.score:.4f}</td><td>{f.warn:g}</td>"
            f"<td>{f.alert:g}</td><td class=\"status\" style=\"color:{COLOURS[f.status]}\">{f.status}</td>"
            f"<td>{f.reference_nan_rate:.2%} → {f.current_nan_rate:.2%}</td>"
            f"<td>{'–' if f.unseen_share is None else f'{f.unseen_share:.2%}'}</td></tr>" for f in report.features]
    return (f"<p>{report.current_rows:,} current rows against {report.reference_rows:,} reference rows; "
            f"dataset drift when {report.drift_share_threshold:.0%} of the features alert "
            f"(now {report.drift_share:.0%}).</p>\n<table>{head}{''.join(rows)}</table>\n")


def _links(links: dict[str, str]) -> str:
    items = [f"<li>{escape(name)}: <a href=\"{escape(url)}\">{escape(url)}</a></li>"
             if url.startswith(LINK_SCHEMES) else f"<li>{escape(name)}: {escape(url)}</li>"
             for name, url in links.items()]
    return f"<ul>{''.join(items)}</ul>\n" if items else ""

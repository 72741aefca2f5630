"""Inline SVG for the dashboard: sparklines, line charts with threshold lines, and a timeline of events.

The same conventions as the drift report (``ml_pipeline.monitoring.report``): its status colours, no script, no
stylesheet from elsewhere, and every text that comes from data escaped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from ml_pipeline.monitoring.report import COLOURS

PALETTE = ("#1f5fa8", "#e0762b", "#2e7d32", "#8e44ad", "#c62828", "#00838f", "#6d4c41", "#7f8c8d")
ACTION_COLOURS = {"promoted": COLOURS["stable"], "rolled_back": COLOURS["warn"], "rejected": COLOURS["alert"],
                  "canary_failed": COLOURS["alert"], "rollback_failed": COLOURS["alert"],
                  "watch_unjudged": COLOURS["warn"]}
Point = tuple[dt.datetime, float | None]


@dataclass(frozen=True)
class Series:
    """One line of a chart: a name and its points, oldest first (``None``: no value, the line breaks)."""

    name: str
    points: Sequence[Point]


def sparkline(values: Sequence[float | None], *, width: int = 120, height: int = 28, top: float | None = None,
              colour: str = PALETTE[0], label: str = "trend") -> str:
    """A small line of ``values`` (oldest first) scaled to ``top`` (default: their maximum); ``–`` when empty."""
    known = [v for v in values if v is not None]
    if not known:
        return "<span class=\"muted\">–</span>"
    ceiling = top or max(known) or 1.0
    step = width / max(len(values) - 1, 1)
    points = [(i * step, height - 2 - (height - 4) * min(v, ceiling) / ceiling)
              for i, v in enumerate(values) if v is not None]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    last_x, last_y = points[-1]
    return (f"<svg class=\"spark\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{escape(label)}\">"
            f"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{path}\"/>"
            f"<circle cx=\"{last_x:.1f}\" cy=\"{last_y:.1f}\" r=\"2.5\" fill=\"{colour}\"/>"
            f"<title>{escape(label)}: latest {known[-1]:.3g}</title></svg>")


def line_chart(series: Sequence[Series], *, title: str, thresholds: dict[str, float] | None = None,
               width: int = 640, height: int = 220, y_label: str = "") -> str:
    """Lines over time with labelled axes, dashed threshold lines (``{"alert": 0.25}``) and a legend."""
    times = [t for s in series for t, v in s.points if v is not None]
    if not times:
        return f"<p class=\"muted\">{escape(title)}: no data yet</p>"
    limits = dict(thresholds or {})
    top = max([v for s in series for _, v in s.points if v is not None] + list(limits.values())) * 1.1 or 1.0
    start, end = min(times), max(times)
    span = (end - start).total_seconds() or 1.0
    left, right, upper, lower = 48, 12, 24, 28
    plot_w, plot_h = width - left - right, height - upper - lower

    def xy(when: dt.datetime, value: float) -> tuple[float, float]:
        return (left + plot_w * (when - start).total_seconds() / span, upper + plot_h * (1 - value / top))

    parts = [f"<svg class=\"chart\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{escape(title)}\">",
             f"<text x=\"{left}\" y=\"14\" class=\"title\">{escape(title)}</text>",
             f"<line x1=\"{left}\" y1=\"{upper}\" x2=\"{left}\" y2=\"{upper + plot_h}\" stroke=\"#555\"/>",
             f"<line x1=\"{left}\" y1=\"{upper + plot_h}\" x2=\"{width - right}\" y2=\"{upper + plot_h}\" "
             "stroke=\"#555\"/>"]
    for step in range(5):
        y = upper + plot_h * step / 4
        parts.append(f"<text x=\"{left - 4}\" y=\"{y + 4:.1f}\" text-anchor=\"end\">{top * (1 - step / 4):.3g}</text>")
    parts += [f"<text x=\"{left}\" y=\"{height - 6}\">{start:%m-%d %H:%M}</text>",
              f"<text x=\"{width - right}\" y=\"{height - 6}\" text-anchor=\"end\">{end:%m-%d %H:%M} UTC</text>",
              f"<text x=\"{(left + width) / 2:.0f}\" y=\"{height - 6}\" text-anchor=\"middle\">{escape(y_label)}"
              "</text>"]
    for name, value in limits.items():
        y = xy(start, value)[1]
        colour = COLOURS.get(name, "#999")
        parts.append(f"<line x1=\"{left}\" y1=\"{y:.1f}\" x2=\"{width - right}\" y2=\"{y:.1f}\" stroke=\"{colour}\" "
                     f"stroke-dasharray=\"5 4\"/><text x=\"{width - right - 2}\" y=\"{y - 3:.1f}\" "
                     f"text-anchor=\"end\" fill=\"{colour}\">{escape(name)} {value:g}</text>")
    for i, line in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        points = " ".join("{:.1f},{:.1f}".format(*xy(t, v)) for t, v in line.points if v is not None)
        parts.append(f"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{points}\">"
                     f"<title>{escape(line.name)}</title></polyline>")
    legend = "".join(f"<span class=\"key\"><i style=\"background:{PALETTE[i % len(PALETTE)]}\"></i>"
                     f"{escape(line.name)}</span>" for i, line in enumerate(series))
    return "\n".join([*parts, "</svg>"]) + f"<div class=\"legend\">{legend}</div>"


def timeline(events: Sequence[tuple[dt.datetime, str, str]], *, width: int = 640, height: int = 70) -> str:
    """Events on a time axis: ``(when, action, label)``, coloured by action (promotion green, rejection red)."""
    if not events:
        return "<p class=\"muted\">no deployments recorded</p>"
    start, end = min(e[0] for e in events), max(e[0] for e in events)
    span = (end - start).total_seconds() or 1.0
    parts = [f"<svg class=\"chart\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"deployments\">",
             f"<line x1=\"20\" y1=\"30\" x2=\"{width - 20}\" y2=\"30\" stroke=\"#555\"/>"]
    for when, action, label in events:
        x = 20 + (width - 40) * (when - start).total_seconds() / span
        parts.append(f"<circle cx=\"{x:.1f}\" cy=\"30\" r=\"7\" fill=\"{ACTION_COLOURS.get(action, '#777')}\">"
                     f"<title>{when:%Y-%m-%d %H:%M} {escape(action)}: {escape(label)}</title></circle>")
    parts += [f"<text x=\"20\" y=\"{height - 8}\">{start:%Y-%m-%d}</text>",
              f"<text x=\"{width - 20}\" y=\"{height - 8}\" text-anchor=\"end\">{end:%Y-%m-%d}</text>", "</svg>"]
    return "\n".join(parts)


@dataclass(frozen=True)
class Box:
    """One node of a flow graph: a short label, a second line, a tooltip, its outline colour."""

    id: str
    label: str
    detail: str = ""
    title: str = ""
    colour: str = "#777"


def flow_graph(columns: Sequence[tuple[str, Sequence[Box]]], edges: Sequence[tuple[str, str]], *,
               label: str = "lineage", box_width: int = 150, gap: int = 30) -> str:
    """Columns of boxes left to right (each under its title) and arrows between them (``(from id, to id)``)."""
    columns = [(title, boxes) for title, boxes in columns if boxes]
    if not columns:
        return f"<p class=\"muted\">{escape(label)}: nothing recorded</p>"
    box_height, spacing, top = 34, 10, 24
    tallest = max(len(boxes) for _, boxes in columns)
    height = top + tallest * (box_height + spacing) + 4
    width = len(columns) * (box_width + gap) - gap + 4
    where: dict[str, tuple[float, float]] = {}
    parts = [f"<svg class=\"chart lineage\" width=\"{width}\" height=\"{height}\" role=\"img\" "
             f"aria-label=\"{escape(label)}\"><defs><marker id=\"lineage-arrow\" viewBox=\"0 0 8 8\" refX=\"8\" "
             "refY=\"4\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" "
             "fill=\"#888\"/></marker></defs>"]
    boxes_svg = []
    for i, (title, boxes) in enumerate(columns):
        x = 2 + i * (box_width + gap)
        parts.append(f"<text x=\"{x}\" y=\"14\" class=\"title\">{escape(title)}</text>")
        offset = top + (tallest - len(boxes)) * (box_height + spacing) / 2
        for j, box in enumerate(boxes):
            y = offset + j * (box_height + spacing)
            where[box.id] = (x, y + box_height / 2)
            boxes_svg.append(
                f"<g class=\"node\" data-node=\"{escape(box.id)}\"><title>{escape(box.title or box.label)}</title>"
                f"<rect x=\"{x}\" y=\"{y:.1f}\" width=\"{box_width}\" height=\"{box_height}\" rx=\"5\" fill=\"#fff\" "
                f"stroke=\"{box.colour}\" stroke-width=\"1.5\"/><text x=\"{x + 6}\" y=\"{y + 14:.1f}\">"
                f"{escape(_fit(box.label, box_width))}</text><text x=\"{x + 6}\" y=\"{y + 28:.1f}\" "
                f"style=\"fill:#777\">{escape(_fit(box.detail, box_width))}</text></g>")
    for source, target in edges:
        if source in where and target in where:
            (x1, y1), (x2, y2) = where[source], where[target]
            parts.append(f"<line class=\"edge\" x1=\"{x1 + box_width:.1f}\" y1=\"{y1:.1f}\" x2=\"{x2 - 2:.1f}\" "
                         f"y2=\"{y2:.1f}\" stroke=\"#888\" marker-end=\"url(#lineage-arrow)\"/>")
    return "\n".join([*parts, *boxes_svg, "</svg>"])


def _fit(text: str, width: int) -> str:
    """``text`` cut to what fits in a box ``width`` pixels wide (about 6 px a character at 11 px)."""
    room = int((width - 10) / 6)
    return text if len(text) <= room else text[:room - 1] + "…"

"""The dashboard's pages as HTML: Jinja2 templates with autoescape, charts as inline SVG.

Everything a template prints from data is escaped; only the charts (``ml_pipeline.dashboard.charts``, which escape
their own texts) are marked safe. ``Links`` knows where Airflow, MLflow and the dashboard itself are served.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from ml_pipeline.dashboard import charts, views
from ml_pipeline.monitoring.report import COLOURS

TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                               autoescape=True, trim_blocks=True, lstrip_blocks=True)
STATUS_COLOURS = {**COLOURS, "ok": COLOURS["stable"], "success": COLOURS["stable"], "failed": COLOURS["alert"],
                  "running": "#1f5fa8", "queued": "#777"}


@dataclass(frozen=True)
class Links:
    """Where things are: the dashboard's own prefix, Airflow's UI, MLflow's UI (empty: not known)."""

    dashboard: str
    airflow: str = ""
    mlflow: str = ""

    def model(self, model: str) -> str:
        """The dashboard's page of ``model``."""
        return f"{self.dashboard}/models/{quote(model)}"

    def dag(self, dag_id: str) -> str:
        """Airflow's page of a DAG."""
        return f"{self.airflow}/dags/{quote(dag_id)}"

    def mlflow_version(self, model: str, version: str | None) -> str:
        """MLflow's page of a registered model version (the model's page without a version)."""
        if not self.mlflow:
            return ""
        path = f"#/models/{quote(model)}" + (f"/versions/{quote(str(version))}" if version else "")
        return f"{self.mlflow}/{path}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def _when(value: dt.datetime | None) -> str:
    return "–" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


TEMPLATES.filters.update(percent=_percent, seconds=_seconds, when=_when)
TEMPLATES.globals.update(colour=lambda status: STATUS_COLOURS.get(status, "#555"), age=views.age,
                         sparkline=lambda *a, **k: Markup(charts.sparkline(*a, **k)))


def render(template: str, links: Links, now: dt.datetime, **context: Any) -> str:
    """One page: ``template`` with the shared header, its navigation and the time it was drawn."""
    return TEMPLATES.get_template(template).render(links=links, now=now, **context)


def models_page(rows: list[views.ModelRow], links: Links, now: dt.datetime, notes: list[str]) -> str:
    """One row per model (see ``views.ModelRow``), with sparklines; ``notes`` say what could not be read."""
    return render("models.html", links, now, rows=rows, notes=notes, title="Models")


def model_page(model: str, row: views.ModelRow, detail: dict[str, Any], links: Links, now: dt.datetime,
               notes: list[str]) -> str:
    """A model's drift per feature with its thresholds, live metrics, deployments, lineage, alerts and report."""
    thresholds = detail.get("thresholds", {})
    drift = [Markup(charts.line_chart([s], title=f"{s.name}: drift score",
                                      thresholds=thresholds.get(s.name), y_label=s.name))
             for s in detail.get("drift", [])]
    live = Markup(charts.line_chart(detail.get("live", []), title="live metrics (labels landed later)",
                                    thresholds=detail.get("live_floor"), y_label="metric"))
    events = detail.get("events", [])
    timeline = Markup(charts.timeline([(e.created_at, e.action, f"v{e.from_version or '-'} → v{e.to_version or '-'}"
                                        f": {e.reason}") for e in events if e.created_at]))
    lineage = detail.get("lineage")
    picture = Markup(charts.flow_graph(*views.lineage_picture(lineage), label=f"lineage of {model} "
                                       f"v{lineage.version}")) if lineage else None
    return render("model.html", links, now, title=model, model=model, row=row, drift=drift, live=live,
                  timeline=timeline, events=list(reversed(events)), alerts=detail.get("alerts", []),
                  report=detail.get("report"), notes=notes, lineage=lineage, lineage_picture=picture)


def platform_page(content: dict[str, Any], links: Links, now: dt.datetime, notes: list[str]) -> str:
    """Success rates and duration trends per DAG, SLA misses, stuck work, component health, config errors."""
    return render("platform.html", links, now, title="Platform", notes=notes, **content)


def message_page(title: str, message: str, links: Links, now: dt.datetime, status: str = "warn") -> str:
    """A page that says what is missing (no data yet, database down) instead of failing."""
    return render("message.html", links, now, title=title, message=message, status=status)

"""The chaos suite's results: the JSON document, the goals' table, and a ``--only`` run merged into a full one."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sys

from benchmarks.chaos.cases import Case


def document(done: list[Case], skipped: dict[str, str], settings: dict, wall_s: float) -> dict:
    """The results file's content: the cases' figures and goals, and the cases skipped with their reasons."""
    return {"benchmark": "chaos", "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "settings": settings, "wall_s": round(wall_s, 1), "all_goals_met": all(c.met for c in done),
            "cases": [dataclasses.asdict(c) for c in done],
            **({"skipped": [{"name": name, "reason": why} for name, why in skipped.items()]} if skipped else {})}


def table(done: list[Case], skipped: dict[str, str] | None = None) -> str:
    """One line per goal: case, goal, measured, target, met; then one line per case skipped."""
    rows = [("case", "goal", "measured", "target", "met")]
    rows += [(c.name, name, json.dumps(g["measured"], default=str)[:40], g["target"][:48], "yes" if g["met"] else "NO")
             for c in done for name, g in c.goals.items()]
    rows += [(name, "-", "-", why[:48], "skipped") for name, why in (skipped or {}).items()]
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows)


def summary(done: list[Case], wall_s: float) -> str:
    """``N of M goals met``, the missed ones named, and the wall time."""
    missed = [f"{c.name}.{g}" for c in done for g, v in c.goals.items() if not v["met"]]
    total = sum(len(c.goals) for c in done)
    return (f"{total - len(missed)} of {total} goals met" + (f"; missed: {', '.join(missed)}" if missed else "")
            + f" ({wall_s:.0f} s)")


def merged(recorded: dict, remeasured: dict) -> dict:
    """``recorded`` with the cases of a ``--only`` run replaced by their new figures, the others kept as they were.

    Each re-measured case carries its ``measured_at``; the file's own date, settings, wall time and skipped cases
    stay those of the full run.
    """
    new = {case["name"]: {**case, "measured_at": remeasured["measured_at"]} for case in remeasured["cases"]}
    cases = [new.pop(case["name"], case) for case in recorded.get("cases", [])] + list(new.values())
    return {**recorded, "cases": cases, "all_goals_met": all(all(g["met"] for g in c["goals"].values())
                                                             for c in cases)}

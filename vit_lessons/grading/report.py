"""The class report, ``OUT_DIR/report.html``: what a teacher reads in a minute.

One self-contained page (no script, no external file; the plot is inline SVG): the class at a glance,
the distribution of every exercise's points, and, per exercise, which known mistakes how many students
made, with the hint they were given: what to re-teach.  Every string that comes from a submission (a
student's id, a hint that quotes a learner's error) is escaped.
"""

from __future__ import annotations

import html
import statistics
from collections import Counter
from pathlib import Path

from .classroom import why_not_graded
from .mistakes import describe
from .registry import EXERCISES

BINS = 11  # points 0, 1, ..., 10 (rounded down)
PANEL_W, PANEL_H, BAR_AREA, TOP = 230, 128, 80, 30


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _histogram(name: str, scores: list[float], x0: int, y0: int) -> str:
    ex = EXERCISES[name]
    counts = [0] * BINS
    for s in scores:
        counts[min(BINS - 1, max(0, int(s * (BINS - 1) / ex.points + 1e-9)))] += 1
    top = max(counts) or 1
    bar_w = (PANEL_W - 20) / BINS
    parts = [f'<text x="{x0}" y="{y0 + 12}" font-size="11" font-weight="bold">{_e(ex.title)}</text>']
    for i, c in enumerate(counts):
        h = BAR_AREA * c / top
        x, y = x0 + 10 + i * bar_w, y0 + TOP + BAR_AREA - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" fill="#4c72b0">'
                     f'<title>{c} student(s) with {i * ex.points / (BINS - 1):g} points</title></rect>')
        if c:
            parts.append(f'<text x="{x + bar_w / 2 - 1:.1f}" y="{y - 2:.1f}" font-size="8" '
                         f'text-anchor="middle">{c}</text>')
    base = y0 + TOP + BAR_AREA
    parts.append(f'<line x1="{x0 + 10}" y1="{base}" x2="{x0 + PANEL_W - 10}" y2="{base}" stroke="#333"/>')
    parts.append(f'<text x="{x0 + 10}" y="{base + 11}" font-size="8">0</text>'
                 f'<text x="{x0 + PANEL_W - 12}" y="{base + 11}" font-size="8" text-anchor="end">'
                 f'{ex.points:g} points</text>')
    return "".join(parts)


def distribution_svg(scores: dict[str, list[float]], columns: int = 4) -> str:
    """Small multiples: one histogram of points per exercise."""
    names = list(scores)
    rows = (len(names) + columns - 1) // columns
    panels = [_histogram(n, scores[n], (i % columns) * PANEL_W, (i // columns) * PANEL_H) for i, n in enumerate(names)]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{columns * PANEL_W}" height="{rows * PANEL_H}" '
            f'role="img" aria-label="points per exercise">{"".join(panels)}</svg>')


def _overview(students, names) -> str:
    graded = [s for s in students if why_not_graded(s) is None]
    totals = [sum(s.summary["points"].values()) for s in graded]
    rows = [f"<tr><th>{_e(EXERCISES[n].title)}</th>" + "".join(
        f"<td>{v}</td>" for v in _stats([s.summary["points"].get(n, 0.0) for s in graded], EXERCISES[n].points))
        + "</tr>" for n in names]
    head = "<tr><th>exercise</th><th>mean</th><th>median</th><th>full marks</th><th>zero</th></tr>"
    mean = f"{statistics.mean(totals):.1f}" if totals else "-"
    return (f"<p>{len(students)} students: {len(graded)} graded, {len(students) - len(graded)} not graded. "
            f"Mean total {mean}.</p><table>{head}{''.join(rows)}</table>")


def _stats(points: list[float], full: float) -> list[str]:
    if not points:
        return ["-", "-", "0", "0"]
    return [f"{statistics.mean(points):.1f}", f"{statistics.median(points):g}",
            str(sum(p >= full - 1e-9 for p in points)), str(sum(p == 0 for p in points))]


def _mistakes(students, names) -> str:
    out = []
    for n in names:
        counts = Counter(m for s in students for m in s.summary.get("mistakes", {}).get(n, []))
        if not counts:
            continue
        rows = []
        for name, count in counts.most_common():
            who = sorted(s.id for s in students if name in s.summary.get("mistakes", {}).get(n, []))
            rows.append(f"<tr><td class='n'>{count}</td><td><code>{_e(name)}</code></td><td>{_e(describe(name, n))}"
                        f"<details><summary>who</summary>{_e(', '.join(who))}</details></td></tr>")
        out.append(f"<h3>{_e(EXERCISES[n].title)}</h3><table><tr><th>students</th><th>mistake</th>"
                   f"<th>the hint they were given</th></tr>{''.join(rows)}</table>")
    return "".join(out) or "<p>No known mistake was named.</p>"


def _not_graded(students) -> str:
    rows = [f"<tr><td>{_e(s.id)}</td><td>{_e(why_not_graded(s))}</td></tr>" for s in students if why_not_graded(s)]
    return f"<table><tr><th>student</th><th>why</th></tr>{''.join(rows)}</table>" if rows else "<p>None.</p>"


def _students(students, names) -> str:
    head = "<tr><th>student</th>" + "".join(f"<th>{EXERCISES[n].number:02d}</th>" for n in names) + \
           "<th>total</th></tr>"
    rows = []
    for s in students:
        if why_not_graded(s):  # its points, if any, are no grade (0 would read as one)
            rows.append(f"<tr><td>{_e(s.id)}</td><td colspan='{len(names) + 1}'>not graded</td></tr>")
            continue
        points = s.summary.get("points", {})
        cells = "".join(f"<td>{points[n]:g}</td>" if n in points else "<td>-</td>" for n in names)
        rows.append(f"<tr><td>{_e(s.id)}</td>{cells}<td>{sum(points.values()):g}</td></tr>")
    return f"<details><summary>every student</summary><table>{head}{''.join(rows)}</table></details>"


STYLE = ("body{font-family:sans-serif;max-width:60rem;margin:2rem auto;color:#222}table{border-collapse:collapse;"
         "margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left;vertical-align:top}"
         "td.n{text-align:right}code{font-size:.9em}")


def write_report(path: Path, students, names: list[str], layers: str) -> None:
    """Write the class report for ``students`` (with their summaries) on the exercises ``names``."""
    graded = [s for s in students if why_not_graded(s) is None]
    scores = {n: [s.summary["points"].get(n, 0.0) for s in graded] for n in names}
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Class report</title>"
            f"<style>{STYLE}</style></head><body><h1>Class report</h1>{_overview(students, names)}"
            f"<h2>Points per exercise</h2>{distribution_svg(scores)}"
            f"<h2>Known mistakes, by exercise</h2><p>How many students' code the grader recognised as making each "
            f"known mistake (a student may make several).</p>{_mistakes(students, names)}"
            f"<h2>Not graded</h2>{_not_graded(students)}<h2>Students</h2>{_students(students, names)}"
            f"<p><small>{_e(layers)}</small></p></body></html>")
    tmp = Path(path).with_suffix(".html.tmp")
    tmp.write_text(page)
    tmp.replace(path)

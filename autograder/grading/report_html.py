"""Report, as web pages: OUT/report.html for the instructor, OUT/feedback/<student>.html.

report.html holds the class summary, the gradebook table, a per-exercise pass-rate chart and a
score histogram, drawn as inline SVG so the page needs nothing else; with matplotlib installed
the same charts are also written as OUT/charts/pass_rate.png and OUT/charts/scores.png.
feedback/<student>.html is feedback/<student>.md turned into HTML. Every piece of text is
escaped before it is placed in a page (a student's output may well contain HTML), and the
pages forbid scripts outright in their Content-Security-Policy.
"""

from __future__ import annotations

import functools
import html
import io
import statistics
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learner import atomic, manifest

from ..course import Lateness, after_penalty
from . import report, similarity
from .model import Graded

CHARTS = "charts"
BINS = 10  # the score histogram: 0-10, 10-20, ..., 90-100 (100 goes in the last bin)
CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 68em; color: #1b1b1b;
       padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; font-size: 1.25em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: .8em 0; }
th, td { border: 1px solid #c8c8c8; padding: .25em .6em; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f4f4f4; border: 1px solid #ddd; padding: .7em; overflow-x: auto;
      white-space: pre-wrap; }
code { background: #f1f1f1; padding: 0 .2em; }
.chart { margin: .5em 0 1em; } .chart text { font: 12px system-ui, sans-serif; fill: #1b1b1b; }
.bar rect { fill: #3b73b9; } .bin rect { fill: #2f8f5b; } .axis { stroke: #777; }
.note { color: #555; }
table.side { width: 100%; table-layout: fixed; } table.side td { vertical-align: top; }
table.side pre { margin: 0; } mark { background: #ffe58a; }
"""
INSTALL = 'PNG copies of the charts need matplotlib: pip install -c constraints.txt -e ".[plot]"'


@dataclass(frozen=True)
class ClassStats:
    """What the charts and the summary show, computed once from the gradebook."""

    graded: list[Graded]
    totals: list[float]
    rates: list[tuple[str, int]]  # (exercise id, students with full points), teaching order
    bins: list[int]  # students per score bin
    possible: float


def stats(graded: list[Graded]) -> ClassStats:
    exercises = manifest.load()
    ids = [e.id for e in exercises]
    points = [g.points(ids) for g in graded]
    possible = float(sum(e.points for e in exercises))
    totals = [float(sum(p.values())) for p in points]
    rates = [(e.id, sum(p[e.id] >= e.points for p in points)) for e in exercises]
    bins = [0] * BINS
    for t in totals:
        bins[min(BINS - 1, max(0, int(t * BINS // possible)))] += 1
    return ClassStats(graded, totals, rates, bins, possible)


def write_html(
    graded: list[Graded],
    out: Path,
    *,
    late: dict[str, Lateness] | None = None,
    attempts: dict[str, list[dict[str, Any]]] | None = None,
) -> None:
    """OUT/report.html and OUT/charts/*.png (when matplotlib is installed). `late`
    (course.lateness_of) and `attempts` (Gradebook.attempts per student) add a section with each
    student's lateness and graded versions, newest first."""
    out = Path(out)
    for stale in (out / CHARTS).glob(".*.tmp"):
        with suppress(FileNotFoundError):
            stale.unlink()
    s = stats(graded)
    pngs = write_png_charts(s, out)
    page = report_page(s, pngs, similar=similarity.load(out), history=(late, attempts or {}))
    report._atomic_write(out / "report.html", page)


def write_feedback_pages(graded: list[Graded], out: Path, feedback: dict[str, str]) -> None:
    """OUT/feedback/<student>.html from each student's Markdown feedback (as write_feedback
    returned it)."""
    for g in graded:
        path = report._student_file(Path(out), "feedback", g.student, ".html")
        report._atomic_write(path, feedback_page(g.student, feedback[g.student]), durable=False)


# ---- pages -----------------------------------------------------------------------------------


def _page(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def _n(x: float) -> str:
    return html.escape(str(report._num(x)))


def report_page(
    s: ClassStats,
    pngs: list[str],
    *,
    similar: dict[str, Any] | None = None,
    history: tuple[dict[str, Lateness] | None, dict[str, list[dict[str, Any]]]] = (None, {}),
) -> str:
    """The instructor's page: summary, charts, gradebook, and similar submissions when
    OUT/similarity.json says (`similar`, as similarity.load read it)."""
    body = ["<h1>attention-kit: class report</h1>"]
    if not s.graded:
        return _page("Class report", [*body, "<p>No students graded yet.</p>"])
    body.append(
        f'<p id="summary">{len(s.graded)} students, out of {_n(s.possible)}: '
        f"mean {_n(statistics.fmean(s.totals))}, median {_n(statistics.median(s.totals))}, "
        f"min {_n(min(s.totals))}, max {_n(max(s.totals))}</p>"
    )
    body += ["<h2>Students with full points, per exercise</h2>", pass_rate_svg(s)]
    body += ["<h2>Scores</h2>", histogram_svg(s)]
    if pngs:
        links = ", ".join(f'<a href="{html.escape(p)}">{html.escape(p)}</a>' for p in pngs)
        body.append(f'<p class="note">The charts as PNG: {links}</p>')
    else:
        body.append(f'<p class="note">{html.escape(INSTALL)}</p>')
    body += ["<h2>Gradebook</h2>", gradebook_table(s)]
    if history[0] is not None or any(history[1].values()):
        body += history_section(s.graded, *history)
    if similar is not None:
        body += similarity_section(similar)
    return _page("Class report", body)


# ---- lateness and attempts ---------------------------------------------------------------------


def _late_cells(g: Graded, late: dict[str, Lateness] | None) -> str:
    if late is None:
        return ""
    lt = late.get(g.student)
    if lt is None or lt.submitted is None:
        return "<p>Submission time unknown: no late penalty.</p>"
    total = report._total(g)
    after = report._num(after_penalty(total, lt.penalty))
    text = (
        f"Handed in {lt.submitted.isoformat(sep=' ', timespec='minutes')}, "
        f"due {lt.due.isoformat(sep=' ', timespec='minutes')}: {lt.describe()}"
    )
    if lt.late:
        text += f"; {report._num(total)} before the penalty, {after} after"
    return f'<p class="late">{html.escape(text)}</p>'


def history_section(
    graded: list[Graded],
    late: dict[str, Lateness] | None,
    attempts: dict[str, list[dict[str, Any]]],
) -> list[str]:
    """Per student: when the submission came in and its penalty, then a table of every graded
    version (digest, submitted, graded, points), newest first."""
    body = ['<h2 id="history">Submission times and attempts</h2>']
    for g in graded:
        name = html.escape(g.student)
        body += [f'<section class="attempts" data-student="{name}">', f"<h3>{name}</h3>"]
        body.append(_late_cells(g, late))
        rows = attempts.get(g.student, [])
        if rows:
            body.append(
                "<table><thead><tr><th>#</th><th>digest</th><th>submitted</th><th>graded</th>"
                '<th class="num">points</th></tr></thead><tbody>'
            )
            for n, a in enumerate(rows):
                cells = [
                    str(len(rows) - n),
                    f"<code>{html.escape(str(a['digest'])[:12])}</code>",
                    html.escape(str(a["submitted"] or "unknown")),
                    html.escape(str(a["graded_at"])),
                ]
                points = f'<td class="num">{_n(a["points"])} / {_n(a["max_points"])}</td>'
                body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + points + "</tr>")
            body.append("</tbody></table>")
        body.append("</section>")
    return body


# ---- similar submissions -----------------------------------------------------------------------


def _who(name: str, same: list[str]) -> str:
    """`name`, and how many others handed in the very same code."""
    others = f" (and {', '.join(same)}: the same code)" if same else ""
    return html.escape(name + others)


def similarity_section(doc: dict[str, Any]) -> list[str]:
    """similarity.json as HTML: the groups with the same code, a table of the similar pairs,
    then the pairs' matching code side by side (the lines holding shared fingerprints marked),
    every character escaped."""
    same, pairs = doc.get("same", []), doc.get("pairs", [])
    percent = f"{100 * float(doc.get('threshold', 0)):.0f}%"
    body = [
        '<section id="similarity">',
        "<h2>Similar submissions</h2>",
        '<p class="note">Compared: the code each student wrote (the exercises\' functions and '
        "classes, with names and layout ignored, and what the stubs and the reference hold "
        f"left out). Pairs share at least {percent} of the smaller one's fingerprints. A lead "
        "to look at, not a verdict.</p>",
    ]
    if not same and not pairs:
        return [*body, "<p>No two submissions are that similar.</p>", "</section>"]
    if same:
        body += ["<h3>The same code</h3>", '<ul id="same-code">']
        body += [f"<li>{html.escape(', '.join(group))}</li>" for group in same]
        body.append("</ul>")
    if pairs:
        body += [
            "<h3>Similar pairs</h3>",
            '<table id="similar-pairs"><thead><tr><th>students</th>'
            '<th class="num">similarity</th><th class="num">shared fingerprints</th>'
            "<th>exercises</th></tr></thead><tbody>",
        ]
        for p in pairs:
            a, b = html.escape(p["a"]), html.escape(p["b"])
            who = f"{_who(p['a'], p.get('a_same', []))} and {_who(p['b'], p.get('b_same', []))}"
            body.append(
                f'<tr data-pair="{a} {b}"><td>{who}</td>'
                f'<td class="num">{100 * p["score"]:.0f}%</td><td class="num">{p["shared"]}</td>'
                f"<td>{html.escape(', '.join(p['exercises']))}</td></tr>"
            )
        body.append("</tbody></table>")
    for p in pairs:
        shown = {ex: sides for ex, sides in p["exercises"].items() if sides}
        if not shown:
            continue
        a, b = html.escape(p["a"]), html.escape(p["b"])
        body.append(f'<h3 data-pair="{a} {b}">{a} and {b}: {100 * p["score"]:.0f}%</h3>')
        for exercise, sides in shown.items():
            body.append('<table class="side"><thead><tr>')
            for who, side in ((a, sides["a"]), (b, sides["b"])):
                where = f"{html.escape(exercise)}, line {int(side['first_line'])}"
                body.append(f"<th>{who}: {where}</th>")
            body.append("</tr></thead><tbody><tr>")
            body += [f"<td>{_marked_code(sides[k])}</td>" for k in ("a", "b")]
            body.append("</tr></tbody></table>")
    return [*body, "</section>"]


def _marked_code(side: dict[str, Any]) -> str:
    """A region's code in <pre>, its matched lines in <mark>."""
    matched = {int(n) for n in side.get("matched", [])}
    lines = []
    for n, line in enumerate(str(side.get("text", "")).splitlines(), start=1):
        text = html.escape(line) or " "
        lines.append(f"<mark>{text}</mark>" if n in matched else text)
    return "<pre>" + "\n".join(lines) + "</pre>"


def gradebook_table(s: ClassStats) -> str:
    """One row per student: points per topic, total, problems, a link to the feedback page."""
    exercises = manifest.load()
    ids = [e.id for e in exercises]
    topics = manifest.modules()
    rows = ['<table id="gradebook">', "<thead><tr><th>student</th>"]
    for t in topics:
        possible = sum(e.points for e in exercises if e.module == t)
        short = t.removesuffix("_attention")  # as the terminal's gradebook heads them
        rows.append(
            f'<th class="num" title="{html.escape(t)}">{html.escape(short)} /{_n(possible)}</th>'
        )
    rows.append(f'<th class="num">total /{_n(s.possible)}</th><th>problems</th></tr></thead>')
    rows.append("<tbody>")
    for g, total in zip(s.graded, s.totals, strict=True):
        points = g.points(ids)
        name = html.escape(g.student)
        link = html.escape(f"feedback/{g.student}.html", quote=True)
        cells = [f'<td><a href="{link}">{name}</a></td>']
        for t in topics:
            topic_points = sum(points[e.id] for e in exercises if e.module == t)
            cells.append(f'<td class="num">{_n(topic_points)}</td>')
        cells.append(f'<td class="num">{_n(total)}</td>')
        gone = f' <span class="gone">{report.GONE}</span>' if g.gone else ""
        cells.append(f"<td>{len(g.errors) or ''}{gone}</td>")
        rows.append(f'<tr data-student="{name}">' + "".join(cells) + "</tr>")
    rows += ["</tbody>", "</table>"]
    return "\n".join(rows)


# ---- SVG charts --------------------------------------------------------------------------------

BAR_HEIGHT, BAR_GAP, LABEL_WIDTH, PLOT_WIDTH = 18, 6, 200, 420


def pass_rate_svg(s: ClassStats) -> str:
    """A horizontal bar per exercise: the share of students with its full points."""
    n = len(s.graded)
    height = len(s.rates) * (BAR_HEIGHT + BAR_GAP) + 10
    width = LABEL_WIDTH + PLOT_WIDTH + 90
    parts = [
        f'<svg id="pass-rate" class="chart" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Share of students with full points, per exercise">'
    ]
    for i, (exercise, passed) in enumerate(s.rates):
        rate = passed / n if n else 0.0
        y = 5 + i * (BAR_HEIGHT + BAR_GAP)
        name = html.escape(exercise)
        parts.append(
            f'<g class="bar" data-exercise="{name}" data-passed="{passed}" data-students="{n}">'
            f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT - 4}" text-anchor="end">{name}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{rate * PLOT_WIDTH:.1f}" '
            f'height="{BAR_HEIGHT}"><title>{name}: {passed}/{n}</title></rect>'
            f'<text x="{LABEL_WIDTH + rate * PLOT_WIDTH + 6:.1f}" y="{y + BAR_HEIGHT - 4}">'
            f"{passed}/{n} {100 * rate:.0f}%</text></g>"
        )
    parts.append(
        f'<line class="axis" x1="{LABEL_WIDTH}" y1="0" x2="{LABEL_WIDTH}" y2="{height}"/></svg>'
    )
    return "".join(parts)


HIST_WIDTH, HIST_HEIGHT, HIST_MARGIN = 520, 220, 30


def _bin_label(i: int, possible: float) -> str:
    step = possible / BINS
    return f"{report._num(i * step)}-{report._num((i + 1) * step)}"


def histogram_svg(s: ClassStats) -> str:
    """Students per score bin of a tenth of the total."""
    top = max(s.bins) or 1
    slot = HIST_WIDTH / BINS
    width, height = HIST_WIDTH + 2 * HIST_MARGIN, HIST_HEIGHT + 2 * HIST_MARGIN
    base = HIST_MARGIN + HIST_HEIGHT
    parts = [
        f'<svg id="scores" class="chart" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Students per score range">'
    ]
    for i, count in enumerate(s.bins):
        h = HIST_HEIGHT * count / top
        x = HIST_MARGIN + i * slot
        label = _bin_label(i, s.possible)
        parts.append(
            f'<g class="bin" data-range="{label}" data-count="{count}">'
            f'<rect x="{x + 2:.1f}" y="{base - h:.1f}" width="{slot - 4:.1f}" height="{h:.1f}">'
            f"<title>{label}: {count}</title></rect>"
            f'<text x="{x + slot / 2:.1f}" y="{base - h - 4:.1f}" text-anchor="middle">'
            f"{count if count else ''}</text>"
            f'<text x="{x + slot / 2:.1f}" y="{base + 16}" text-anchor="middle">{label}</text>'
            "</g>"
        )
    parts.append(
        f'<line class="axis" x1="{HIST_MARGIN}" y1="{base}" x2="{HIST_MARGIN + HIST_WIDTH}" '
        f'y2="{base}"/></svg>'
    )
    return "".join(parts)


# ---- PNG charts (matplotlib, optional) ---------------------------------------------------------


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def write_png_charts(s: ClassStats, out: Path) -> list[str]:
    """charts/pass_rate.png and charts/scores.png; [] when matplotlib is not installed."""
    plt = _pyplot()
    if plt is None or not s.graded:
        return []
    n = len(s.graded)
    written = []

    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(s.rates) + 1.2), layout="constrained")
    names = [e for e, _ in s.rates][::-1]
    ax.barh(names, [100 * p / n for _, p in s.rates][::-1], color="#3b73b9")
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"% of {n} students with full points")
    ax.tick_params(axis="y", labelsize=8)
    written.append(_save(fig, out / CHARTS / "pass_rate.png", plt))

    fig, ax = plt.subplots(figsize=(6.5, 3.4), layout="constrained")
    labels = [_bin_label(i, s.possible) for i in range(BINS)]
    ax.bar(labels, s.bins, color="#2f8f5b")
    ax.set_xlabel(f"total points (out of {report._num(s.possible)})")
    ax.set_ylabel("students")
    ax.tick_params(axis="x", labelsize=8, rotation=30)
    ax.yaxis.get_major_locator().set_params(integer=True)
    written.append(_save(fig, out / CHARTS / "scores.png", plt))
    return [str(Path(CHARTS) / Path(p).name) for p in written]


def _save(fig: Any, path: Path, plt: Any) -> str:
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=100)
    finally:
        plt.close(fig)
    atomic.write_bytes(path, buf.getvalue())
    return str(path)


# ---- feedback/<student>.html: the Markdown feedback as HTML ----------------------------------


@functools.cache
def _markdown() -> Callable[[str], Any]:
    """Markdown to HTML with every raw tag escaped, tables, and right-aligned cells as class="num";
    images are shown as their alt text and code blocks as plain <pre>: the page loads nothing."""
    import mistune

    class Renderer(mistune.HTMLRenderer):
        def block_code(self, code: str, info: str | None = None) -> str:
            return f"<pre>{html.escape(code.rstrip(chr(10)))}</pre>\n"

        def image(self, text: str, url: str, title: str | None = None) -> str:
            return text

    def cell(_: Any, text: str, align: str | None = None, head: bool = False) -> str:
        tag, attr = ("th" if head else "td"), (' class="num"' if align == "right" else "")
        return f"<{tag}{attr}>{text}</{tag}>"

    md = mistune.create_markdown(renderer=Renderer(escape=True), plugins=["table"])
    md.renderer.register("table_cell", cell)  # type: ignore[union-attr]
    md.renderer.register("table_row", lambda _, text: f"<tr>{text}</tr>\n")  # type: ignore[union-attr]
    return md


def markdown_html(md: str) -> str:
    """Feedback Markdown as HTML; all text escaped, fenced text kept verbatim in <pre>."""
    return str(_markdown()(md)).strip()


def feedback_page(student: str, md: str) -> str:
    return _page(f"Feedback for {student}", [markdown_html(md)])

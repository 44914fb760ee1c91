"""report_html: OUT/report.html with its charts, OUT/charts/*.png, OUT/feedback/<student>.html;
and the page as headless chromium renders it."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_heatmap import png_size
from test_report import book_with, full_marks, losing

from autograder.grading import report, report_html
from autograder.grading.model import Graded
from learner import manifest

EXERCISES = manifest.load()
POINTS = {e.id: e.points for e in EXERCISES}  # the curriculum's numbers, from the manifest
TOTAL = sum(POINTS.values())
BOB = TOTAL - POINTS["softmax_stable"] / 2  # the small class's totals (see small_class)
CYD = TOTAL - POINTS["CausalAttention"] / 2
CHROMIUM = "/usr/bin/chromium"
BROWSER_SECONDS = 120
HOSTILE = "<script>document.documentElement.setAttribute('data-pwned', 'yes')</script>"
HOSTILE_IMG = '<img src="x" onerror="document.title=\'pwned\'">'


def small_class() -> list[Graded]:
    """Four students: full marks, BOB (half of softmax_stable lost), CYD (half of
    CausalAttention), and one with nothing graded (0) whose code printed hostile HTML."""
    eve = Graded("eve", "d", 7, errors=["exercises/simple_attention.py: <b>not</b> UTF-8"])
    eve.output = f"{HOSTILE}\n{HOSTILE_IMG}\n"
    return [
        full_marks("ada"),
        losing("bob", {"softmax_stable": "got nan at [0, 1] <i>really</i>"}),
        losing("cyd", {"CausalAttention": "shape (2, 3), expected (2, 6, 2)"}),
        eve,
    ]


@pytest.fixture
def written(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    with book_with(tmp_path, *small_class()) as book:
        report.write_all(book, out)
    return out


def bars(page: str) -> dict[str, tuple[int, int]]:
    """exercise -> (students with full points, students) from the pass-rate chart's bars."""
    found = re.findall(
        r'<g class="bar" data-exercise="(\w+)" data-passed="(\d+)" data-students="(\d+)">', page
    )
    return {e: (int(p), int(n)) for e, p, n in found}


def bins(page: str) -> dict[str, int]:
    return {
        r: int(c)
        for r, c in re.findall(r'<g class="bin" data-range="([\d.-]+)" data-count="(\d+)">', page)
    }


# ---- report.html -----------------------------------------------------------------------------


def test_report_page_has_summary_charts_and_gradebook(written: Path) -> None:
    """Does report.html give the class summary, one bar per exercise with its pass count, the
    score histogram's counts, and a gradebook row per student linking to the feedback page?"""
    page = (written / "report.html").read_text()
    mean, median = (TOTAL + BOB + CYD) / 4, (BOB + CYD) / 2
    assert (
        f"4 students, out of {TOTAL:g}: mean {mean:g}, median {median:g}, min 0, max {TOTAL:g}"
        in page
    )
    got = bars(page)
    assert list(got) == [e.id for e in EXERCISES]
    want = {e.id: (3, 4) for e in EXERCISES}  # eve has nothing; bob and cyd lose one each
    want["softmax_stable"] = want["CausalAttention"] = (2, 4)
    assert got == want
    step = TOTAL / 10
    labels = [f"{i * step:g}-{(i + 1) * step:g}" for i in range(10)]
    want_bins = dict.fromkeys(labels, 0)
    for total in (TOTAL, BOB, CYD, 0):
        want_bins[labels[min(int(total // step), 9)]] += 1
    assert bins(page) == want_bins
    rows = re.findall(r'<tr data-student="(\w+)"><td><a href="feedback/(\w+)\.html">', page)
    assert rows == [("ada", "ada"), ("bob", "bob"), ("cyd", "cyd"), ("eve", "eve")]
    ada_row = page[page.index('<tr data-student="ada">') :].split("</tr>")[0]
    modules = [sum(e.points for e in EXERCISES if e.module == m) for m in manifest.modules()]
    assert re.findall(r'<td class="num">([\d.]+)</td>', ada_row) == [
        f"{p:g}" for p in (*modules, TOTAL)
    ]
    assert 'href="charts/pass_rate.png"' in page and 'href="charts/scores.png"' in page


def test_png_charts_are_written(written: Path) -> None:
    """Are charts/pass_rate.png and charts/scores.png real PNGs of a sensible size, with no
    temp file beside them?"""
    names = sorted(p.name for p in (written / "charts").iterdir())
    assert names == ["pass_rate.png", "scores.png"]
    for name in names:
        width, height = png_size(written / "charts" / name)
        assert 300 <= width <= 2000 and 200 <= height <= 2000, (name, width, height)


def test_report_without_matplotlib_keeps_the_svg_charts(tmp_path: Path, monkeypatch) -> None:
    """Without matplotlib, does report.html still hold both charts (inline SVG), say how to get
    the PNGs, and write no charts/ folder?"""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "out"
    with book_with(tmp_path, *small_class()) as book:
        report.write_all(book, out)
    page = (out / "report.html").read_text()
    assert len(bars(page)) == len(EXERCISES) and sum(bins(page).values()) == 4
    assert html.escape(report_html.INSTALL) in page
    assert not (out / "charts").exists()


def test_empty_class_page(tmp_path: Path) -> None:
    """With nobody graded, is the page a plain sentence rather than empty charts?"""
    out = tmp_path / "out"
    with book_with(tmp_path) as book:
        report.write_all(book, out)
    page = (out / "report.html").read_text()
    assert "No students graded yet." in page and "<svg" not in page


# ---- feedback/<student>.html ---------------------------------------------------------------


def test_feedback_html_escapes_what_the_student_printed(written: Path) -> None:
    """Is a <script> or an <img onerror> the student printed shown as text: escaped in a <pre>,
    never a tag of the page, and are scripts forbidden by the page's policy anyway?"""
    page = (written / "feedback" / "eve.html").read_text()
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert f"<pre>{html.escape(HOSTILE)}\n{html.escape(HOSTILE_IMG)}</pre>" in page
    assert html.escape("exercises/simple_attention.py: <b>not</b> UTF-8") in page
    assert "default-src 'none'" in page  # no script source is allowed


def test_feedback_html_matches_the_markdown(written: Path) -> None:
    """Does the HTML carry the Markdown's total, its exercise table (one row per exercise) and
    each lost exercise's section with what failed and the hint?"""
    page = (written / "feedback" / "bob.html").read_text()
    assert "<h1>Feedback for bob</h1>" in page
    assert f"<p><strong>Total: {BOB:g} / {TOTAL:g}</strong> (graded " in page
    table = page[page.index("<table>") : page.index("</table>")]
    assert table.count("<tr>") == 1 + len(EXERCISES)
    position = [e.id for e in EXERCISES].index("softmax_stable") + 1  # its row, in teaching order
    score = f"{POINTS['softmax_stable'] / 2:g} / {POINTS['softmax_stable']:g}"
    assert (
        f'<tr><td class="num">{position}</td><td><code>softmax_stable</code>: Softmax that cannot '
        f'overflow</td><td class="num">{score}</td></tr>'
    ) in table
    assert f"<h3><code>softmax_stable</code>: Softmax that cannot overflow ({score})</h3>" in page
    assert (
        "<pre>test_softmax_stable_hidden:\ngot nan at [0, 1] &lt;i&gt;really&lt;/i&gt;</pre>"
        in page
    )
    hint = manifest.by_id()["softmax_stable"].hints[0]
    assert "<p>Hint: softmax(x) == softmax(x - c)" in page and "<code>dim</code>" in page
    assert hint.startswith("softmax(x) == softmax(x - c)")


def test_feedback_html_draws_the_expected_weights(tmp_path: Path) -> None:
    """Does a lost attention-weight exercise's section carry the expected heatmap (as in the
    Markdown), in a <pre>?"""
    out = tmp_path / "out"
    g = losing("dan", {"causal_attention_weights": "future weights are not 0"})
    with book_with(tmp_path, g) as book:
        report.write_all(book, out)
    md = (out / "feedback" / "dan.md").read_text()
    page = (out / "feedback" / "dan.html").read_text()
    assert "make check EX=causal_attention_weights` draws yours beside them" in md
    assert "  0 Your     ██\n" in md
    assert "<pre>causal_attention_weights on &quot;Your journey starts with one step&quot;" in page
    assert "  0 Your     ██\n" in page


def test_markdown_html_fences_and_escaping() -> None:
    """Does a longer fence keep ``` lines inside it, and is Markdown-looking text inside a fence
    left as text?"""
    md = "# T <x>\n\n````text\n```\n# not a heading\n**not bold**\n````\n\npara **b** `c<d>`"
    assert report_html.markdown_html(md).splitlines() == [
        "<h1>T &lt;x&gt;</h1>",
        "<pre>```",
        "# not a heading",
        "**not bold**</pre>",
        "<p>para <strong>b</strong> <code>c&lt;d&gt;</code></p>",
    ]


def test_no_temp_files_and_reruns_replace(written: Path) -> None:
    """After writing (twice), are there only the finished files: no temp file anywhere?"""
    with report.Gradebook(written / "gradebook.sqlite") as book:
        report.write_all(book, written)
    strays = [str(p) for p in written.rglob(".*") if not p.name.startswith("gradebook")]
    assert strays == []
    assert sorted(p.name for p in (written / "feedback").glob("*.html")) == [
        "ada.html", "bob.html", "cyd.html", "eve.html",
    ]  # fmt: skip


# ---- in a real browser -----------------------------------------------------------------------


def chromium_or_skip() -> str:
    """The chromium binary; in CI its absence is a failure, elsewhere a skip that says so."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run installs Debian's chromium")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    command = [
        chromium_or_skip(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-extensions", f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_SECONDS, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def non_white_share(png: Path) -> float:
    """The share of pixels that are not (near) white."""
    from PIL import Image

    with Image.open(png) as im:
        counts = im.convert("L").histogram()  # pixels per grey level 0..255
    return sum(counts[:240]) / sum(counts)


@pytest.mark.slow
def test_report_renders_in_chromium(written: Path, tmp_path: Path) -> None:
    """Rendered by headless chromium, does report.html hold both charts with a bar per
    exercise and the gradebook table, and does its screenshot show them (not a blank page)?"""
    url = (written / "report.html").as_uri()
    dom = chromium(tmp_path, "--dump-dom", url).stdout
    assert '<svg id="pass-rate"' in dom and '<svg id="scores"' in dom
    assert len(bars(dom)) == len(EXERCISES)
    assert len(re.findall(r"<rect ", dom)) == len(EXERCISES) + 10
    assert '<table id="gradebook">' in dom and dom.count("<tr data-student=") == 4
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1100,1400", url)
    assert png_size(shot) == (1100, 1400)
    share = non_white_share(shot)
    assert 0.03 < share < 0.6, f"{share:.3f} of the screenshot is not white"


@pytest.mark.slow
def test_hostile_feedback_does_not_run_in_chromium(written: Path, tmp_path: Path) -> None:
    """Rendered by chromium, is the student's printed <script> text on the page, with no
    script element and nothing it would have done (no data-pwned, the title unchanged)?"""
    dom = chromium(tmp_path, "--dump-dom", (written / "feedback" / "eve.html").as_uri()).stdout
    root = re.search(r"<html[^>]*>", dom)
    assert root is not None and root.group(0) == '<html lang="en">'  # no data-pwned on it
    assert "<script" not in dom and "<img" not in dom
    assert "<title>Feedback for eve</title>" in dom
    assert html.escape(HOSTILE, quote=False) in dom


def test_missing_chromium_fails_in_ci_and_skips_elsewhere(tmp_path: Path, monkeypatch) -> None:
    """Without chromium, is the browser test a failure when CI=true (a skip would pass for a
    check that never ran) and a skip naming the package elsewhere?"""
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="missing in CI"):
        chromium_or_skip()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        chromium_or_skip()

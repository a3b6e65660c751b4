"""The report as people see it: a small real study's report.html opened in headless Chromium at
1,400 px. The page is not blank, the headline and claims tables come before the first figure,
nothing is wider than the window (with every <details> opened), and each severity panel is shown
at 400 px or more. A negative control widens one table and checks that the same measurement
catches it, so the test cannot pass by measuring nothing.

Skipped, with the reason, where no Chromium is installed (.ci/run installs it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from robeval.stages.evaluate import evaluate_run
from robeval.stages.report import write_report
from robeval.stages.train import train
from tests.helpers import tiny_config

WIDTH, HEIGHT = 1400, 900
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROME = next((b for b in map(shutil.which, BROWSERS) if b), None)
pytestmark = pytest.mark.skipif(CHROME is None, reason="no Chromium on PATH (.ci/run installs it)")

# runs after load: opens every <details>, then writes what it measured into the DOM
MEASURE = """<script>
window.addEventListener('load', () => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const de = document.documentElement;
  let right = 0, widest = '';
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > right) { right = r.right; widest = el.tagName + ': ' + (el.textContent || '').slice(0, 60); }
  }
  const scrolled = [...document.querySelectorAll('table, pre, div, figure')]
    .filter(el => el.scrollWidth > el.clientWidth + 1).map(el => el.tagName);
  const severity = [...document.querySelectorAll('img')].filter(i => /accuracy vs severity/.test(i.alt))
    .map(i => i.getBoundingClientRect().width);
  const out = document.createElement('pre');
  out.id = 'measure';
  out.textContent = JSON.stringify({scrollWidth: de.scrollWidth, clientWidth: de.clientWidth,
    innerWidth: window.innerWidth, right: right, widest: widest, scrolled: scrolled, severity: severity,
    images: document.images.length});
  document.body.appendChild(out);
});
</script>"""


def chrome(*args: str) -> subprocess.CompletedProcess:
    cmd = [CHROME, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--window-size={WIDTH},{HEIGHT}", "--virtual-time-budget=10000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def measure(page: Path, tmp: Path) -> tuple[dict, str]:
    """The page's DOM after load, with the measurement; the page itself is not changed."""
    probe = tmp / f"probe-{page.stem}.html"
    probe.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    res = chrome("--dump-dom", probe.as_uri())
    m = re.search(r'<pre id="measure">(.*?)</pre>', res.stdout, re.S)
    assert m, f"no measurement in the dumped DOM: {res.stderr[-2000:]}"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                      .replace("&gt;", ">")), res.stdout


def overflows(m: dict) -> list[str]:
    out = []
    if m["scrollWidth"] > WIDTH:
        out.append(f"page is {m['scrollWidth']} px wide")
    if m["right"] > WIDTH + 0.5:
        out.append(f"an element ends at {m['right']:.0f} px ({m['widest']})")
    if m["scrolled"]:
        out.append(f"elements scroll sideways: {m['scrolled']}")
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A 2 x 2 grid (learned/fixed x dot/cosine S = 1) over 2 seeds, 1 epoch on 256 shapes images,
    evaluated on clean, two severities of one corruption and the shifted set: the demo's layout
    in a minute on a CPU."""
    root = tmp_path_factory.mktemp("browser")
    data = str(root / "data")
    dirs = []
    for head in ("learned", "fixed"):
        for logits, extra in (("dot", {}), ("cosine", {"scale": 1.0})):
            for seed in (0, 1):
                run = root / "runs" / f"{head}-{logits}-{seed}"
                train(tiny_config(head=head, logits=logits, epochs=1, max_train=256, seed=seed, **extra),
                      run, progress=False, data_dir=data)
                evaluate_run(run, "clean,defocus_blur/1,defocus_blur/3,genset:shapes-shift",
                             progress=False, data_dir=data)
                dirs.append(run)
    out = root / "report"
    write_report(dirs, out)
    return out


def test_report_reads_at_a_glance_in_chromium(report, tmp_path):
    page = report / "report.html"
    assert page.stat().st_size < 5_000_000
    shot = tmp_path / "first-screen.png"
    res = chrome(f"--screenshot={shot}", page.as_uri())
    assert shot.is_file(), res.stderr[-2000:]
    from PIL import Image

    img = Image.open(shot).convert("L")
    assert img.size == (WIDTH, HEIGHT)
    dark = float((np.asarray(img) < 200).mean())
    assert dark > 0.01, f"first screen looks blank ({dark:.2%} non-white pixels)"

    m, dom = measure(page, tmp_path)
    first_figure = dom.index("<figure")
    headline = dom.index("<table")
    claims = dom.index("the paper says")
    assert headline < claims < first_figure, "the headline and claims tables must come before any figure"
    assert dom.index("<details") > claims and dom.index("<h2>Claims in detail") > first_figure
    assert m["images"] >= 6 and len(m["severity"]) == 1  # one panel per corruption family
    assert not overflows(m), overflows(m)
    assert all(w >= 400 for w in m["severity"]), m["severity"]


def test_the_measurement_catches_a_widened_table(report, tmp_path):
    """Negative control: one table made 1,600 px wide must be reported as an overflow."""
    wide = tmp_path / "wide.html"
    wide.write_text((report / "report.html").read_text().replace("<table>", '<table style="min-width:1600px">', 1))
    m, _ = measure(wide, tmp_path)
    assert overflows(m), m

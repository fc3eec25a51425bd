"""The HTML report in a real browser: Debian's Chromium, headless, driven by Playwright's Python
package (never a browser Playwright downloads: `playwright install` is not used).

`report_in_browser(html, results)` opens a report at a desktop and a phone width and returns what
a reader would hit: tables wider than their container, a page wider than the screen, images that
did not load, console errors, and the key numbers of results.json missing from the text; and
once more with the print stylesheet, with the PDF the browser's "print to PDF" writes.

`python tests/browser_support.py --out docs/screenshots` (`make screenshots`) writes a demo and
a Chicago roll-out report and takes PNG screenshots of both at both widths.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.numbers import interval, significant

WIDTHS = {"desktop": 1280, "phone": 390}
HEIGHTS = {"desktop": 900, "phone": 844}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# What a table or the page overflows, per element: [what, its width, the room it has]
OVERFLOWS_JS = """() => {
  const out = [];
  const page = document.documentElement;
  if (page.scrollWidth > window.innerWidth + 1) {
    out.push(["page", page.scrollWidth, window.innerWidth]);
  }
  for (const table of document.querySelectorAll("table")) {
    const box = table.getBoundingClientRect();
    const room = table.parentElement.clientWidth;
    if (box.width > room + 1 || box.right > window.innerWidth + 1) {
      out.push([table.rows[0].innerText.slice(0, 80), Math.round(box.width), room]);
    }
  }
  return out;
}"""

IMAGES_JS = """() => [...document.images].map(
  image => [image.alt, image.complete && image.naturalWidth > 0])"""


def chromium_path() -> str | None:
    """The system's Chromium (Debian: /usr/bin/chromium), or None."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_missing() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright's Python package is not installed (requirements.lock installs it)"
    if chromium_path() is None:
        return (
            "no Chromium on this machine (`apt-get install -y chromium`; .ci/run installs it "
            "where apt-get is available)"
        )
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Seen:
    """What a reader hits at one width (or in print)."""

    overflows: list = field(default_factory=list)
    broken_images: list = field(default_factory=list)
    console_errors: list = field(default_factory=list)
    missing_numbers: list = field(default_factory=list)
    n_tables: int = 0
    n_images: int = 0
    pdf_bytes: int = 0


def key_numbers(results: dict[str, Any]) -> list[str]:
    """The estimates and intervals of results.json as the report writes them."""
    effects = [
        *results.get("primary_effects", []),
        *results.get("effects", []),
        *results.get("rollout_effects", []),
    ]
    numbers = []
    for effect in effects:
        numbers.append(significant(effect["estimate"]))
        numbers.append(interval(effect["ci_low"], effect["ci_high"]))
    gate = results.get("gate") or {}
    if gate.get("n_expectations") is not None:
        numbers.append(f"{gate['n_expectations']} checks")
    return list(dict.fromkeys(numbers))


def report_in_browser(browser, html: Path, results: dict[str, Any]) -> dict[str, Seen]:
    """The report at each width of WIDTHS and in print: what a reader would hit."""
    seen = {}
    numbers = key_numbers(results)
    for name, width in WIDTHS.items():
        page = browser.new_page(viewport={"width": width, "height": HEIGHTS[name]})
        found = Seen()
        page.on(
            "console",
            lambda m, f=found: f.console_errors.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda error, f=found: f.console_errors.append(str(error)))
        page.goto(Path(html).resolve().as_uri(), wait_until="load")
        found.overflows = page.evaluate(OVERFLOWS_JS)
        images = page.evaluate(IMAGES_JS)
        found.n_images = len(images)
        found.broken_images = [alt for alt, loaded in images if not loaded]
        found.n_tables = page.evaluate("() => document.querySelectorAll('table').length")
        text = " ".join(page.inner_text("body").split())
        found.missing_numbers = [number for number in numbers if number not in text]
        seen[name] = found
        if name == "desktop":
            page.emulate_media(media="print")
            printed = Seen(console_errors=found.console_errors)
            printed.overflows = page.evaluate(OVERFLOWS_JS)
            printed.pdf_bytes = len(page.pdf(format="A4", print_background=False))
            seen["print"] = printed
        page.close()
    return seen


def screenshots(browser, html: Path, out_dir: Path, stem: str) -> list[Path]:
    """The first screen of a report at each width, and its first table, as small PNGs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, width in WIDTHS.items():
        page = browser.new_page(viewport={"width": width, "height": HEIGHTS[name]})
        page.goto(Path(html).resolve().as_uri(), wait_until="load")
        top = out_dir / f"{stem}-{name}.png"
        page.screenshot(path=str(top))
        # the first table, cut at 1400 px: clip is in page coordinates on a full-page shot
        top_y, height = page.evaluate(
            """() => { const box = document.querySelector("table.data").getBoundingClientRect();
                       return [box.top + window.scrollY, box.height]; }"""
        )
        clip = {"x": 0, "y": max(top_y - 8, 0), "width": width, "height": min(height + 16, 1400)}
        first_table = out_dir / f"{stem}-{name}-table.png"
        page.screenshot(path=str(first_table), clip=clip, full_page=True)
        written += [top, first_table]
        page.close()
    for path in written:
        _shrink(path)
    return written


def _shrink(path: Path) -> None:
    """A palette PNG: screenshots of text need few colours."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=64)
    small.save(path, optimize=True)


def main(argv: list[str]) -> int:
    """`make screenshots`: a demo and a Chicago roll-out report, photographed at both widths."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument(
        "--reports",
        nargs=2,
        type=Path,
        metavar=("DEMO_DIR", "CHICAGO_DIR"),
        help="report directories already written (index.html, results.json): skip building them",
    )
    args = parser.parse_args(argv)
    missing = browser_missing()
    if missing:
        print(f"cannot take screenshots: {missing}", file=sys.stderr)
        return 1
    from middlestep import commands
    from middlestep.demo import demo
    from middlestep.warehouse import PROJECT_ROOT, Home

    with tempfile.TemporaryDirectory(prefix="middlestep-screenshots-") as tmp:
        if args.reports:
            reports = dict(zip(("demo", "chicago"), args.reports, strict=True))
        else:
            home = Home.resolve(Path(tmp) / "chicago")
            commands.ingest(home, PROJECT_ROOT / "data" / "chicago_pj", "chicago")
            commands.build(home)
            commands.check(home)
            reports = {
                "demo": demo(Path(tmp) / "demo").out_dir,
                "chicago": commands.report(home, "chicago").out_dir,
            }
        with chromium() as browser:
            for stem, directory in reports.items():
                html, results = directory / "index.html", directory / "results.json"
                for path in screenshots(browser, html, args.out, stem):
                    print(f"{path} ({os.path.getsize(path) // 1024} KB)")
                seen = report_in_browser(browser, html, json.loads(results.read_text()))
                for name, found in seen.items():
                    print(f"{stem} {name}: {found.overflows or 'no overflow'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

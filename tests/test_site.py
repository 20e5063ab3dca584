"""vaultbench.site: the local server, the report, the command's usage errors, and (when
Debian's chromium and chromium-driver are installed) the browser check on tiny sites."""

from __future__ import annotations

import argparse
import re
import struct
import zlib
from pathlib import Path

import pytest

from vaultbench import site
from vaultbench.site import (
    KEY_PAGES,
    BrowserUnavailable,
    Problem,
    SiteReport,
    check_site,
    fetch_status,
    find_docs,
    main,
    page_file,
    serve,
)

BROWSER = site.CHROMIUM.is_file() and site.CHROMEDRIVER.is_file()
needs_browser = pytest.mark.skipif(
    not BROWSER,
    reason=f"{site.CHROMIUM} or {site.CHROMEDRIVER} is absent; "
    "apt-get install chromium chromium-driver (.ci/run does)",
)


def _png() -> bytes:
    """A valid 1x1 PNG (one red pixel)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


SIDEBAR = """
<form role="search" method="get" action="search.html"><input name="q" aria-label="Search"></form>
<nav class="sidebar-tree"><a href="index.html">Home</a> <a href="bad.html">Bad</a></nav>
"""


def _page(title: str, body: str, head: str = "") -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>'
        f'{title}</title><link rel="stylesheet" href="_static/site.css">{head}</head>'
        f"<body>{SIDEBAR}<article role='main'>{body}</article></body></html>"
    )


def _search_page(hits: list[str]) -> str:
    """A stand-in for Sphinx's search.html: the results of ?q= appear a moment later."""
    script = (
        "const q = new URLSearchParams(location.search).get('q') || '';"
        f"const pages = {hits!r};"
        "setTimeout(() => {"
        "  const out = document.getElementById('search-results');"
        "  const ul = document.createElement('ul'); ul.className = 'search';"
        "  const found = pages.filter((p) => q && p.includes(q));"
        "  for (const p of found) {"
        "    const li = document.createElement('li'); li.textContent = p; ul.appendChild(li);"
        "  }"
        "  out.appendChild(ul);"
        "  const s = document.createElement('p'); s.className = 'search-summary';"
        "  s.textContent = 'Search finished, found ' + found.length + ' pages';"
        "  out.appendChild(s);"
        "}, 100);"
    )
    return _page(
        "Search", f"<h1>Search</h1><div id='search-results'></div><script>{script}</script>"
    )


def _tiny_site(root: Path, *, search_hits: list[str] | None = None) -> Path:
    """A good ``index``, every key page, a ``bad`` page (a broken image and a script
    error), an ``untitled`` page (empty h1, a missing stylesheet) and a search page."""
    (root / "_static").mkdir(parents=True)
    (root / "_static" / "site.css").write_text("body { font-family: sans-serif; }\n")
    (root / "_static" / "app.js").write_text("window.appLoaded = true;\n")
    (root / "_images").mkdir()
    (root / "_images" / "dot.png").write_bytes(_png())
    good = (
        "<h1>vaultbench</h1><p>The backup key vault.</p>"
        '<img src="_images/dot.png" alt="dot" width="20" height="20">'
        '<script src="_static/app.js"></script>'
    )
    for name in KEY_PAGES:
        (root / f"{name}.html").write_text(_page(name, good.replace("vaultbench", name)))
    (root / "bad.html").write_text(
        _page(
            "bad",
            "<h1>Bad</h1><p>Two things are wrong here.</p>"
            '<img src="_images/missing.png" alt="missing">'
            "<script>window.notDefined.call();</script>",
        )
    )
    (root / "untitled.html").write_text(
        _page("untitled", "<h1> </h1><p>Text.</p>", '<link rel="stylesheet" href="gone.css">')
    )
    hits = ["vault state machine", "the fleet"] if search_hits is None else search_hits
    (root / "search.html").write_text(_search_page(hits))
    return root


# -- without a browser -----------------------------------------------------------------


def test_page_file_names() -> None:
    assert page_file("i1") == "i1.html"
    assert page_file("i1.html") == "i1.html"
    assert page_file("/sub/page") == "sub/page.html"
    for bad in ("", "../etc/passwd", "a/../b", "a//b", "a\\b", "."):
        with pytest.raises(ValueError, match="not a page name"):
            page_file(bad)


def test_server_serves_the_directory_and_stops(tmp_path: Path) -> None:
    site_dir = _tiny_site(tmp_path / "html")
    with serve(site_dir) as base:
        assert base.startswith("http://127.0.0.1:")
        assert fetch_status(base + "index.html") == 200
        assert fetch_status(base + "_static/site.css?v=1") == 200
        assert fetch_status(base + "_images/dot.png") == 200
        assert fetch_status(base + "_images/missing.png") == 404
    assert fetch_status(base + "index.html", timeout=2) == 0


def _context(base: str, report: SiteReport, statuses: dict[str, int]) -> site._Context:
    ctx = site._Context(
        driver=None,  # type: ignore[arg-type]
        base=base,
        html_dir=Path("."),
        report=report,
        screenshots=None,
        timeout=5,
        expect_sidebar=True,
    )
    ctx.statuses.update(statuses)
    return ctx


def test_page_facts_become_problems() -> None:
    base = "http://127.0.0.1:9/"
    report = SiteReport()
    ctx = _context(
        base,
        report,
        {base + "gone.png": 404, base + "_static/a.js": 200, base + "gone.css": 404},
    )
    facts = {
        "images": [
            {"src": base + "gone.png", "attr": "gone.png", "width": 0, "decoded": False},
            {"src": base + "ok.svg", "attr": "ok.svg", "width": 0, "decoded": True},
        ],
        "refs": [
            ["image", base + "gone.png"],
            ["script", base + "_static/a.js"],
            ["stylesheet", base + "gone.css"],
            ["script", "https://cdn.example/x.js"],
        ],
        "resources": [
            {"name": base + "favicon.ico", "type": "other", "status": 404},
            {"name": base + "font.woff2", "type": "css", "status": 404},
            {"name": base + "_static/a.js", "type": "script", "status": 200},
        ],
        "h1": "",
        "text": 12,
        "sidebarLinks": 0,
        "searchBox": True,
    }
    reported = site._examine(ctx, "p", facts)
    assert report.problems == [
        Problem("p", "broken-image", "gone.png (HTTP 404)"),
        Problem("p", "failed-resource", "stylesheet gone.css (HTTP 404)"),
        Problem("p", "failed-resource", "css font.woff2 (HTTP 404)"),
        Problem("p", "no-h1", "the <h1> is empty"),
        Problem("p", "no-sidebar", "no links in the sidebar's navigation tree"),
    ]
    assert reported == {base + "gone.png", base + "gone.css", base + "font.woff2"}
    assert report.notes == ["p: external script https://cdn.example/x.js"]


def test_report_aggregates_problems_by_page() -> None:
    report = SiteReport(browser="chrome 1", seconds=1.5)
    report.pages += [site.PageResult("index", "u"), site.PageResult("bad", "u")]
    assert report.ok
    assert "no problems" in report.format()
    report.add("bad", "broken-image", "x.png (HTTP 404)")
    report.add("bad", "broken-image", "x.png (HTTP 404)")  # once only
    report.add("bad", "script-error", "Uncaught ReferenceError")
    report.add("other", "missing-page", "other.html")
    assert not report.ok
    assert len(report.problems) == 3
    assert report.kinds("bad") == {"broken-image", "script-error"}
    assert report.problems_for("index") == []
    text = report.format()
    assert re.search(r"^  index +ok ", text, re.MULTILINE), text
    assert re.search(r"^  bad +2 problem\(s\) ", text, re.MULTILINE), text
    assert "problems (3):" in text
    assert "  bad: broken-image: x.png (HTTP 404)" in text
    assert "  other: missing-page: other.html" in text


def test_find_docs_is_this_repository() -> None:
    docs = find_docs()
    assert docs is not None
    assert (docs / "conf.py").is_file()
    assert docs == Path(site.__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--docs", "{tmp}"], "has no conf.py"),
        (["--no-build", "--out", "{tmp}"], "nothing built at"),
        (["--no-build", "--out", "{tmp}", "--screenshots", "{tmp}"], "--screenshots needs --check"),
        (["--no-build", "--out", "{tmp}", "--page", "i2"], "--page needs --check"),
        (["--check", "--no-build", "--out", "{tmp}", "--page", "../x"], "not a page name"),
        (["--check", "--timeout", "0"], "--timeout must be positive"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    assert message in capsys.readouterr().err


def test_no_docs_found_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(site, "find_docs", lambda: None)
    assert main([]) == 2
    assert "cannot find the spec's docs/" in capsys.readouterr().err


def test_missing_browser_exits_2_with_the_install_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site_dir = _tiny_site(tmp_path / "html")
    argv = ["--no-build", "--check", "--out", str(site_dir), "--chromium", "/nonexistent/chromium"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "/nonexistent/chromium" in err
    assert "apt-get install chromium chromium-driver" in err
    with pytest.raises(BrowserUnavailable, match="chromedriver"):
        check_site(site_dir, ["index"], chromedriver=tmp_path / "chromedriver")


def test_no_build_without_check_only_verifies_the_site(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site_dir = _tiny_site(tmp_path / "html")
    assert main(["--no-build", "--out", str(site_dir)]) == 0
    assert "ready to publish" in capsys.readouterr().out


def test_add_parser_wires_the_subcommand(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="vaultbench")
    site.add_parser(parser.add_subparsers(dest="command"))
    site_dir = _tiny_site(tmp_path / "html")
    args = parser.parse_args(["site", "--no-build", "--out", str(site_dir)])
    assert args.command == "site"
    assert site.run(args) == 0


# -- in headless Chromium --------------------------------------------------------------


@needs_browser
def test_browser_finds_the_broken_image_and_the_script_error(tmp_path: Path) -> None:
    site_dir = _tiny_site(tmp_path / "html")
    shots = tmp_path / "shots"
    report = check_site(site_dir, ["index", "bad"], shots, timeout=20)
    assert [r.page for r in report.pages] == ["index", "bad", "search"]
    assert report.problems_for("index") == [], report.format()
    assert report.problems_for("search") == [], report.format()
    bad = report.problems_for("bad")
    assert {p.kind for p in bad} == {"broken-image", "script-error"}, report.format()
    assert any("_images/missing.png" in p.detail for p in bad if p.kind == "broken-image")
    assert any("Uncaught TypeError" in p.detail for p in bad if p.kind == "script-error")
    assert "search 'vault': 1 result(s)" in report.notes
    for name in ("index", "bad", "search-results"):
        png = (shots / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG")
        assert len(png) > 1000


@needs_browser
def test_browser_finds_a_missing_page_an_empty_h1_and_a_search_with_no_results(
    tmp_path: Path,
) -> None:
    site_dir = _tiny_site(tmp_path / "html", search_hits=[])
    report = check_site(site_dir, ["untitled", "nowhere"], None, timeout=10)
    assert report.kinds("untitled") == {"no-h1", "failed-resource"}, report.format()
    assert any("gone.css (HTTP 404)" in p.detail for p in report.problems_for("untitled"))
    assert report.kinds("nowhere") == {"missing-page"}
    assert report.kinds("search") == {"search"}
    assert "found 0 pages" in report.problems_for("search")[0].detail


@needs_browser
def test_the_command_checks_the_key_pages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site_dir = _tiny_site(tmp_path / "html")
    argv = ["--no-build", "--check", "--out", str(site_dir), "--timeout", "20"]
    assert main(argv) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert f"browser check: {len(KEY_PAGES) + 1} page(s)" in out
    assert "ready to publish" in out
    assert main([*argv, "--page", "bad"]) == 1
    out = capsys.readouterr().out
    assert "bad: broken-image: _images/missing.png (HTTP 404)" in out
    assert "bad: script-error:" in out

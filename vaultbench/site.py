"""vaultbench.site: ``vaultbench site``, the spec built as a static site, and checked in a browser.

One command builds what gets published::

    vaultbench site [--out DIR] [--check] [--screenshots DIR] [--no-build]

1. Sphinx, ``-W --keep-going -b html docs OUT`` (default ``OUT`` is ``docs/_build/html``;
   the doctrees go to ``docs/_build/doctrees``, outside the published directory);
2. Sphinx's doctest builder on the same sources (output in ``docs/_build/doctest``);
3. with ``--check``, :func:`check_site`: the built directory served on a free localhost
   port, each key page loaded in headless Chromium (Debian's ``chromium`` and
   ``chromium-driver``, driven by selenium) and checked for script errors, broken
   images, resources that fail to load, a missing ``<h1>`` or sidebar; then the sidebar's
   search box is used end to end (``search.html`` must list results). ``--screenshots``
   saves a PNG per page.

``--no-build`` skips steps 1 and 2 and checks an existing ``OUT``. Exit 0 when everything
passes, 1 when a build fails or the check finds a problem, 2 on a usage error (no
``docs/``, nothing built at ``OUT``, Sphinx or Chromium not installed).

``python -m vaultbench.site`` is the same command.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

#: The pages every check loads (``NAME.html`` in the built directory).
KEY_PAGES = ("index", "parties", "i1", "i3", "rotation", "verify", "running", "glossary")

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = "install Debian's browser and its driver: apt-get install chromium chromium-driver"
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-proxy-server",
    "--window-size=1280,1000",
)
DEFAULT_TIMEOUT = 30.0
SEARCH_QUERY = "vault"
SEARCH_PAGE = "search"


class BrowserUnavailable(Exception):
    """Chromium, chromedriver or selenium is missing, or the browser does not start."""


# -- the report ------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one page: ``kind`` is a short tag, ``detail`` the evidence."""

    page: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.page}: {self.kind}: {self.detail}"


@dataclass
class PageResult:
    page: str
    url: str
    seconds: float = 0.0
    screenshot: Path | None = None


@dataclass
class SiteReport:
    """What :func:`check_site` found: the pages it loaded and every problem, by page."""

    pages: list[PageResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    browser: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, page: str, kind: str, detail: str) -> None:
        problem = Problem(page, kind, detail)
        if problem not in self.problems:
            self.problems.append(problem)

    def problems_for(self, page: str) -> list[Problem]:
        return [p for p in self.problems if p.page == page]

    def kinds(self, page: str) -> set[str]:
        return {p.kind for p in self.problems_for(page)}

    def format(self) -> str:
        lines = [
            f"browser check: {len(self.pages)} page(s)"
            + (f", {self.browser}" if self.browser else "")
            + f", {self.seconds:.1f} s"
        ]
        width = max((len(r.page) for r in self.pages), default=4)
        for result in self.pages:
            found = self.problems_for(result.page)
            status = "ok" if not found else f"{len(found)} problem(s)"
            shot = f"  {result.screenshot}" if result.screenshot else ""
            lines.append(f"  {result.page:<{width}}  {status:<14} {result.seconds:5.1f} s{shot}")
        listed = {r.page for r in self.pages}
        for page in dict.fromkeys(p.page for p in self.problems if p.page not in listed):
            lines.append(f"  {page:<{width}}  {len(self.problems_for(page))} problem(s)")
        for note in self.notes:
            lines.append(f"note: {note}")
        if self.problems:
            lines.append(f"problems ({len(self.problems)}):")
            lines.extend(f"  {problem}" for problem in self.problems)
        else:
            lines.append("no problems: no script errors, no broken images or resources")
        return "\n".join(lines)


# -- the local server ------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 - the base class's attribute, extended
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".css": "text/css",
        ".svg": "image/svg+xml",
        ".woff2": "font/woff2",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on a free port of 127.0.0.1; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="vaultbench-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def fetch_status(url: str, timeout: float = DEFAULT_TIMEOUT) -> int:
    """The HTTP status of a GET of ``url`` (no proxy); 0 when nothing answers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError):
        return 0


# -- pages -----------------------------------------------------------------------------


def page_file(name: str) -> str:
    """The built file of a page name: ``i1`` -> ``i1.html``; raises ValueError if unsafe."""
    name = name.strip().lstrip("/")
    if not name or "\\" in name or any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError(f"not a page name: {name!r}")
    return name if name.endswith(".html") else f"{name}.html"


def _shot_name(page: str) -> str:
    return page.removesuffix(".html").replace("/", "__") + ".png"


# The facts of one loaded page, gathered in the page (an async script: the images are
# decoded first, so a broken one is told from one still loading).
_COLLECT_JS = r"""
const done = arguments[arguments.length - 1];
const limit = arguments[0];
(async () => {
  const imgs = Array.from(document.images);
  imgs.forEach((i) => { if (i.loading === "lazy") { i.loading = "eager"; } });
  const settle = (p) => Promise.race([
    p.then(() => true, () => false),
    new Promise((r) => setTimeout(() => r(null), limit)),
  ]);
  const decoded = await Promise.all(
    imgs.map((i) => (i.getAttribute("src") ? settle(i.decode()) : Promise.resolve(false))));
  const images = imgs.map((i, k) => ({
    src: i.currentSrc || i.src || "", attr: i.getAttribute("src"),
    width: i.naturalWidth, decoded: decoded[k],
  }));
  const refs = [];
  document.querySelectorAll("img[src]").forEach((e) => refs.push(["image", e.src]));
  document.querySelectorAll("script[src]").forEach((e) => refs.push(["script", e.src]));
  document.querySelectorAll("link[href]").forEach((e) => {
    if (e.relList.contains("stylesheet")) { refs.push(["stylesheet", e.href]); }
    if (e.relList.contains("icon")) { refs.push(["icon", e.href]); }
  });
  const resources = performance.getEntriesByType("resource").map((e) => ({
    name: e.name, type: e.initiatorType,
    status: ("responseStatus" in e) ? e.responseStatus : null,
  }));
  const h1 = document.querySelector("article h1, main h1, [role=main] h1")
    || document.querySelector("h1");
  done({
    images, refs, resources,
    h1: h1 ? h1.textContent.replace(/\u00b6/g, "").trim() : null,
    text: document.body ? document.body.innerText.trim().length : 0,
    sidebarLinks: document.querySelectorAll(
      ".sidebar-tree a[href], .sphinxsidebar a[href], nav.sidebar a[href]").length,
    searchBox: !!document.querySelector("form[role=search] input[name=q], form input[name=q]"),
  });
})().catch((e) => done({error: String(e)}));
"""

_RESULTS_JS = "return document.querySelectorAll('#search-results ul.search li').length;"
_SUMMARY_JS = (
    "const s = document.querySelector('#search-results .search-summary, #search-results p');"
    "return s ? s.textContent.trim() : '';"
)


@dataclass
class _Context:
    driver: WebDriver
    base: str
    html_dir: Path
    report: SiteReport
    screenshots: Path | None
    timeout: float
    expect_sidebar: bool
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def favicon(self) -> str:
        """The icon the browser asks for by itself: not the site's problem (an icon the
        page declares with ``<link rel=icon>`` is checked like any other resource)."""
        return self.base + "favicon.ico"

    def short(self, url: str) -> str:
        return url.removeprefix(self.base) or "/"

    def status(self, url: str) -> int:
        if url not in self.statuses:
            self.statuses[url] = fetch_status(url, self.timeout)
        return self.statuses[url]


def _load(ctx: _Context, url: str) -> None:
    from selenium.webdriver.support.wait import WebDriverWait

    ctx.driver.get(url)
    WebDriverWait(ctx.driver, ctx.timeout).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def _browser_log(driver: WebDriver) -> list[dict[str, Any]]:
    """The browser's console messages since the last call (selenium leaves it untyped)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return entries


def _console(ctx: _Context, page: str, reported: set[str]) -> None:
    """The browser's SEVERE console messages since the last call, as problems."""
    for entry in _browser_log(ctx.driver):
        if entry.get("level") != "SEVERE":
            continue
        message = str(entry.get("message", "")).strip()
        if "Failed to load resource" in message:
            url = message.split(" ", 1)[0]
            if url not in reported and url != ctx.favicon:
                reported.add(url)
                ctx.report.add(page, "failed-resource", message.replace(ctx.base, "/"))
        else:
            ctx.report.add(page, "script-error", message.replace(ctx.base, "/"))


def _screenshot(ctx: _Context, page: str) -> Path | None:
    if ctx.screenshots is None:
        return None
    path = ctx.screenshots / _shot_name(page)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not ctx.driver.save_screenshot(str(path)):
        ctx.report.add(page, "screenshot", f"could not save {path}")
        return None
    return path


def _examine(ctx: _Context, page: str, facts: dict[str, Any], *, h1: bool = True) -> set[str]:
    """Problems in one page's facts; returns the URLs already reported as failing.
    ``h1=False`` for the search page: Sphinx titles its results with an ``<h2>``."""
    add = ctx.report.add
    reported: set[str] = set()
    if "error" in facts:
        add(page, "check", f"the page's facts could not be collected: {facts['error']}")
        return reported
    for image in facts["images"]:
        if image["width"] == 0 and image["decoded"] is not True:
            src = str(image["src"] or image["attr"] or "")
            reason = "did not load in time" if image["decoded"] is None else "does not decode"
            status = ctx.status(src) if src.startswith(ctx.base) else None
            if status is not None and status != 200:
                reason = f"HTTP {status}" if status else "no answer"
            add(page, "broken-image", f"{ctx.short(src) or '<img> without src'} ({reason})")
            reported.add(src)
    for kind, url in facts["refs"]:
        if url in reported:
            continue
        if url.startswith(ctx.base):
            status = ctx.status(url)
            if status != 200:
                add(page, "failed-resource", f"{kind} {ctx.short(url)} (HTTP {status or 'none'})")
                reported.add(url)
        elif not url.startswith("data:"):
            ctx.report.notes.append(f"{page}: external {kind} {url}")
    for entry in facts["resources"]:
        status = entry["status"]
        if entry["name"] == ctx.favicon:
            continue
        if isinstance(status, int) and status >= 400 and entry["name"] not in reported:
            add(
                page,
                "failed-resource",
                f"{entry['type']} {ctx.short(entry['name'])} (HTTP {status})",
            )
            reported.add(entry["name"])
    if h1 and not facts["h1"]:
        add(page, "no-h1", "no <h1>" if facts["h1"] is None else "the <h1> is empty")
    if not facts["text"]:
        add(page, "blank", "the page shows no text")
    if ctx.expect_sidebar:
        if not facts["sidebarLinks"]:
            add(page, "no-sidebar", "no links in the sidebar's navigation tree")
        if not facts["searchBox"]:
            add(page, "no-sidebar", "no search box (form input name=q)")
    return reported


def _check_page(ctx: _Context, page: str) -> None:
    from selenium.common.exceptions import TimeoutException, WebDriverException

    start = time.monotonic()
    name = page_file(page)
    url = ctx.base + urllib.parse.quote(name)
    result = PageResult(page, url)
    ctx.report.pages.append(result)
    if not (ctx.html_dir / name).is_file():
        ctx.report.add(page, "missing-page", f"{name} is not in {ctx.html_dir}")
        return
    try:
        _browser_log(ctx.driver)  # what the previous page left behind
        _load(ctx, url)
        facts = ctx.driver.execute_async_script(_COLLECT_JS, int(ctx.timeout * 500))
        reported = _examine(ctx, page, facts)
        _console(ctx, page, reported)
        result.screenshot = _screenshot(ctx, page)
    except TimeoutException as error:
        ctx.report.add(page, "timeout", f"not loaded within {ctx.timeout:g} s ({error.msg})")
    except WebDriverException as error:
        ctx.report.add(page, "browser", (error.msg or repr(error)).splitlines()[0])
    result.seconds = time.monotonic() - start


def _check_search(ctx: _Context, query: str) -> None:
    """Type ``query`` into the index page's search box; ``search.html`` must list results."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        TimeoutException,
        WebDriverException,
    )
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.wait import WebDriverWait

    start = time.monotonic()
    page = SEARCH_PAGE
    direct = f"{ctx.base}search.html?q={urllib.parse.quote(query)}"
    result = PageResult(page, direct)
    ctx.report.pages.append(result)
    if not (ctx.html_dir / "search.html").is_file():
        ctx.report.add(page, "missing-page", f"search.html is not in {ctx.html_dir}")
        return
    wait = WebDriverWait(ctx.driver, ctx.timeout)
    try:
        _browser_log(ctx.driver)
        used_box = False
        if (ctx.html_dir / "index.html").is_file():
            _load(ctx, ctx.base + "index.html")
            try:
                box = ctx.driver.find_element(By.CSS_SELECTOR, "form[role=search] input[name=q]")
                box.send_keys(query + Keys.ENTER)
                wait.until(lambda d: "search.html" in d.current_url)
                used_box = True
            except (NoSuchElementException, TimeoutException, WebDriverException) as error:
                detail = (getattr(error, "msg", None) or type(error).__name__).splitlines()[0]
                ctx.report.add(
                    page, "search", f"the index page's search box does not work: {detail}"
                )
        if not used_box:
            _load(ctx, direct)
        result.url = ctx.driver.current_url
        # Sphinx's searchtools writes the summary line when the search has finished.
        with contextlib.suppress(TimeoutException):
            wait.until(lambda d: bool(d.execute_script(_SUMMARY_JS)))
        found = int(ctx.driver.execute_script(_RESULTS_JS))
        summary = str(ctx.driver.execute_script(_SUMMARY_JS))
        if found:
            ctx.report.notes.append(f"search {query!r}: {found} result(s)")
        else:
            ctx.report.add(
                page,
                "search",
                f"no results for {query!r} within {ctx.timeout:g} s: "
                f"{summary or 'no results shown'}",
            )
        facts = ctx.driver.execute_async_script(_COLLECT_JS, int(ctx.timeout * 500))
        _console(ctx, page, _examine(ctx, page, facts, h1=False))
        result.screenshot = _screenshot(ctx, "search-results")
    except TimeoutException as error:
        ctx.report.add(page, "timeout", f"not loaded within {ctx.timeout:g} s ({error.msg})")
    except WebDriverException as error:
        ctx.report.add(page, "browser", (error.msg or repr(error)).splitlines()[0])
    result.seconds = time.monotonic() - start


def _start_browser(chromium: Path, chromedriver: Path, profile: str, timeout: float) -> WebDriver:
    missing = [str(p) for p in (chromium, chromedriver) if not p.is_file()]
    if missing:
        raise BrowserUnavailable(f"not found: {', '.join(missing)}; {INSTALL_HINT}")
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:
        raise BrowserUnavailable(
            f"selenium is not installed ({error}); pip install -e '.[site]'"
        ) from None
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for argument in CHROMIUM_ARGS:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(str(chromedriver)), options=options)
    except WebDriverException as error:
        first = (error.msg or repr(error)).strip().splitlines()[0]
        raise BrowserUnavailable(
            f"{chromium} did not start under {chromedriver}: {first}; {INSTALL_HINT} "
            "(the two must be the same version)"
        ) from None
    driver.set_page_load_timeout(timeout)
    driver.set_script_timeout(timeout)
    return driver


def check_site(
    html_dir: Path | str,
    pages: Sequence[str] = KEY_PAGES,
    screenshots_dir: Path | str | None = None,
    *,
    search_query: str | None = SEARCH_QUERY,
    expect_sidebar: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    chromium: Path | str = CHROMIUM,
    chromedriver: Path | str = CHROMEDRIVER,
) -> SiteReport:
    """Load ``pages`` of the built site ``html_dir`` in headless Chromium; report problems.

    Every page: SEVERE console messages (script errors, resources that failed), images
    that do not decode (``naturalWidth == 0``), ``<img>``/``<script>``/stylesheets whose
    URL does not answer 200, a missing or empty ``<h1>``, no text, and (``expect_sidebar``)
    no sidebar links or search box. Then, unless ``search_query`` is None, the query is
    typed into the index page's search box and ``search.html`` must list results. A PNG
    per page goes to ``screenshots_dir`` when given. Raises :class:`BrowserUnavailable`
    when Chromium, chromedriver or selenium is missing or the browser does not start.
    """
    html = Path(html_dir)
    names = list(dict.fromkeys(pages))
    for name in names:
        page_file(name)  # a ValueError before anything starts
    shots = Path(screenshots_dir) if screenshots_dir is not None else None
    start = time.monotonic()
    report = SiteReport()
    with (
        tempfile.TemporaryDirectory(
            prefix="vaultbench-chromium-", ignore_cleanup_errors=True
        ) as profile,
        serve(html) as base,
    ):
        driver = _start_browser(Path(chromium), Path(chromedriver), profile, timeout)
        try:
            caps = driver.capabilities
            report.browser = f"{caps.get('browserName', 'chrome')} {caps.get('browserVersion', '')}"
            ctx = _Context(driver, base, html, report, shots, timeout, expect_sidebar)
            for name in names:
                _check_page(ctx, name)
            if search_query is not None:
                _check_search(ctx, search_query)
        finally:
            with contextlib.suppress(Exception):
                driver.quit()
    report.seconds = time.monotonic() - start
    return report


# -- the command -----------------------------------------------------------------------


def find_docs() -> Path | None:
    """The spec's ``docs/``: next to this package (editable install), else upward from CWD."""
    candidates = [Path(__file__).resolve().parents[1]]
    cwd = Path.cwd().resolve()
    candidates += [cwd, *cwd.parents]
    for root in candidates:
        if (root / "docs" / "conf.py").is_file():
            return root / "docs"
    return None


def _error(message: str) -> int:
    print(f"vaultbench site: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _sphinx(builder: str, docs: Path, out: Path, doctrees: Path) -> bool:
    # The doctest build does not publish the CLI's output: the html build ran every
    # command already (docs/_ext/vaultbench_output.py), so it is not run twice.
    extra = ["-D", "vaultbench_output_run=0"] if builder == "doctest" else []
    command = [
        sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", *extra,
        "-b", builder, "-d", str(doctrees), str(docs), str(out),
    ]  # fmt: skip
    print(f"vaultbench site: sphinx -b {builder} {docs} {out}", flush=True)
    start = time.monotonic()
    code = subprocess.run(command, cwd=docs.parent, check=False).returncode  # noqa: S603
    verdict = "ok" if code == 0 else f"FAILED (exit {code})"
    print(f"vaultbench site: sphinx -b {builder}: {verdict}, {time.monotonic() - start:.1f} s")
    return code == 0


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="where the HTML site goes (default docs/_build/html)",
    )
    parser.add_argument(
        "--docs", metavar="DIR", type=Path, help="the Sphinx sources (default: the repo's docs/)"
    )
    parser.add_argument(
        "--no-build", action="store_true", help="skip Sphinx; check the site already in --out"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="load the key pages in headless Chromium: script errors, broken images and "
        "resources, <h1>, sidebar, search (needs apt-get install chromium chromium-driver)",
    )
    parser.add_argument(
        "--screenshots", metavar="DIR", type=Path, help="with --check: a PNG per page in DIR"
    )
    parser.add_argument(
        "--page",
        action="append",
        default=[],
        metavar="NAME",
        help=f"with --check: one more page to load, e.g. i2 (always: {', '.join(KEY_PAGES)})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"with --check: the limit per page (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--chromium", type=Path, default=CHROMIUM, help=argparse.SUPPRESS)
    parser.add_argument("--chromedriver", type=Path, default=CHROMEDRIVER, help=argparse.SUPPRESS)


_DESCRIPTION = (
    "Build the spec as a static site for publishing: Sphinx html with warnings as errors, "
    "then its doctests; with --check, load the key pages in headless Chromium and report "
    "script errors, broken images or resources, a missing <h1> or sidebar, and a search "
    "that finds nothing. Exit 0 all good, 1 a build failed or a problem was found, 2 usage."
)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """add_parser: the ``site`` subcommand and its flags."""
    site = commands.add_parser(
        "site",
        help="build the spec's static site (Sphinx html + doctest); --check it in Chromium",
        description=_DESCRIPTION,
    )
    _add_arguments(site)


def run(args: argparse.Namespace) -> int:
    """run: the ``site`` command; returns the exit code."""
    if args.screenshots is not None and not args.check:
        return _error("--screenshots needs --check")
    if args.page and not args.check:
        return _error("--page needs --check")
    if args.timeout <= 0:
        return _error(f"--timeout must be positive, got {args.timeout:g}")
    try:
        pages = list(dict.fromkeys([*KEY_PAGES, *args.page]))
        for page in pages:
            page_file(page)
    except ValueError as error:
        return _error(str(error))

    docs: Path | None = args.docs.resolve() if args.docs is not None else None
    if docs is not None and not (docs / "conf.py").is_file():
        return _error(f"{docs} has no conf.py: not a Sphinx source directory")
    if docs is None:
        docs = find_docs()
    if docs is None and (not args.no_build or args.out is None):
        return _error(
            f"cannot find the spec's docs/ (looked next to {Path(__file__).resolve().parent} "
            "and upward from the current directory); run it from the repository, or pass "
            "--docs DIR (and --out DIR)"
        )
    if args.out is not None:
        out: Path = args.out.resolve()  # Sphinx runs from the repository's root
    else:
        assert docs is not None
        out = docs / "_build" / "html"

    ok = True
    if args.no_build:
        if not (out / "index.html").is_file():
            return _error(f"nothing built at {out} (no index.html); drop --no-build")
    else:
        assert docs is not None
        if importlib.util.find_spec("sphinx") is None:
            return _error("Sphinx is not installed; pip install -e '.[docs]'")
        build = docs / "_build"
        ok = _sphinx("html", docs, out, build / "doctrees")
        ok = _sphinx("doctest", docs, build / "doctest", build / "doctrees") and ok
        if not (out / "index.html").is_file():
            print(f"vaultbench site: no site at {out}", file=sys.stderr)
            return EXIT_FAILED

    if args.check:
        if not ok:
            print("vaultbench site: browser check skipped: the build failed")
            return EXIT_FAILED
        try:
            report = check_site(
                out,
                pages,
                args.screenshots,
                timeout=args.timeout,
                chromium=args.chromium,
                chromedriver=args.chromedriver,
            )
        except BrowserUnavailable as error:
            return _error(str(error))
        print(report.format())
        ok = report.ok
    if ok:
        print(f"vaultbench site: {out} is ready to publish")
    return EXIT_OK if ok else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vaultbench.site ARGS``: the same as ``vaultbench site ARGS``."""
    parser = argparse.ArgumentParser(prog="vaultbench site", description=_DESCRIPTION)
    _add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code) if isinstance(exit_.code, int) else EXIT_USAGE
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))


__all__ = [
    "KEY_PAGES",
    "BrowserUnavailable",
    "PageResult",
    "Problem",
    "SiteReport",
    "check_site",
    "fetch_status",
    "find_docs",
    "main",
    "page_file",
    "serve",
]

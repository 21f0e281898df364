"""The committed front-end files are what `make assets` builds now, and load nothing from the internet."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILT = ("web/static/web/wallet.js", "web/static/web/htmx.min.js", "tests/browser/axe.min.js")
SERVED = sorted((ROOT / "web/static/web").glob("*.js")) + sorted((ROOT / "web/static/web").glob("*.css"))
URL = re.compile(r"https?://[^\s\"'`)<>\\]+")
# Where a URL would be fetched: a script import, a CSS url() or @import, a src/href, fetch or XHR.
LOADING = re.compile(
    r"""(?:\bimport\s*\(?\s*|@import\s+|url\(\s*|\b(?:src|href)\s*=\s*|\bfetch\(\s*|\.open\(\s*["'][A-Z]+["']\s*,\s*)["'`]?https?://""",
    re.IGNORECASE,
)
# URLs a built file may mention without loading them: XML namespaces and libraries' documentation links in error text.
MENTIONED_HOSTS = {"www.w3.org", "viem.sh", "htmx.org", "abitype.dev", "docs.soliditylang.org"}


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("node") is None or not (ROOT / "node_modules/esbuild").is_dir():
        pytest.fail("node and the npm packages are needed: run `make install`")
    out = tmp_path_factory.mktemp("assets")
    subprocess.run(["node", "web/assets/build.mjs", "--out", str(out)], cwd=ROOT, check=True, timeout=120)
    return out


@pytest.mark.parametrize("name", BUILT)
def test_the_committed_file_is_byte_for_byte_what_make_assets_builds(rebuilt: Path, name: str):
    committed = ROOT / name
    assert committed.is_file(), f"{name} is missing: run `make assets` and commit it"
    assert committed.read_bytes() == (rebuilt / name).read_bytes(), f"{name} is stale: run `make assets` and commit it"


def test_two_builds_are_identical(rebuilt: Path, tmp_path: Path):
    subprocess.run(["node", "web/assets/build.mjs", "--out", str(tmp_path)], cwd=ROOT, check=True, timeout=120)
    for name in BUILT:
        assert (tmp_path / name).read_bytes() == (rebuilt / name).read_bytes(), name


@pytest.mark.parametrize("path", SERVED, ids=lambda path: path.name)
def test_a_served_file_loads_nothing_from_the_internet(path: Path):
    text = path.read_text(encoding="utf-8")
    loads = [match.group(0) for match in LOADING.finditer(text)]
    hosts = {re.split(r"[/$]", re.sub(r"^https?://", "", url))[0] for url in URL.findall(text)}
    assert loads == [], f"{path.name} loads from the internet: {loads}"
    assert hosts <= MENTIONED_HOSTS, f"{path.name} names new hosts, check that nothing loads from them: {hosts}"


def test_the_url_check_finds_a_load_from_a_cdn():
    assert LOADING.search('import("https://cdn.example/x.js")')
    assert LOADING.search("background: url(https://fonts.example/a.woff2)")
    assert LOADING.search('el.src = "https://cdn.example/x.js"')
    assert LOADING.search("fetch('https://rpc.example/')")
    assert not LOADING.search('createElementNS("http://www.w3.org/2000/svg", "svg")')

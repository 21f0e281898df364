"""Static files with DEBUG off: WhiteNoise serves /static/ from the web process.

Production (``CHAIN_RPC_URL`` set, DEBUG off, gunicorn) serves what ``manage.py collectstatic``
put in STATIC_ROOT, each file gzipped beside it; the test suite and the embedded mode (settings
imported with DEBUG on) look the apps' static folders up instead, so they need no collectstatic.
"""

import gzip
import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent.parent
SOURCES = ROOT / "web" / "static"
FILES = [("web/wallet.js", "text/javascript"), ("web/site.css", "text/css")]
CACHE = "max-age=60, public"


def _production_env(var: Path) -> dict[str, str]:
    """A production environment: a real node's URL (nothing listens there), DEBUG off by default, TLS at a proxy."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(var),  # gunicorn's control socket goes under it
        "CHAIN_RPC_URL": "http://127.0.0.1:9",
        "SECRET_KEY": "static-files-test-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_PROXY_SSL_HEADER": "1",
        "LIFEBOAT_VAR_DIR": str(var),
        "STATIC_ROOT": str(var / "static"),
    }


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``manage.py collectstatic`` run as production runs it; the environment it ran with."""
    env = _production_env(tmp_path_factory.mktemp("production"))
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(port: int, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"X-Forwarded-Proto": "https", **headers})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_gunicorn_in_production_serves_the_collected_files_with_type_and_cache_headers(collected):
    static_root = Path(collected["STATIC_ROOT"])
    # Not collected, so not served, although web/static/ has it: production reads STATIC_ROOT only.
    for name in ("holders.css", "holders.css.gz"):
        (static_root / "web" / name).unlink()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT,
        env=collected,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stdout.read().decode()  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not listen within 120 s"
                time.sleep(0.2)

        for path, content_type in FILES:
            source = (SOURCES / path).read_bytes()
            status, headers, body = _get(port, f"/static/{path}")
            assert (status, body) == (200, source)
            assert headers["content-type"].startswith(content_type)
            assert headers["cache-control"] == CACHE
            assert headers["x-content-type-options"] == "nosniff"  # SecurityMiddleware runs first
            status, headers, body = _get(port, f"/static/{path}", **{"Accept-Encoding": "gzip"})
            assert (status, headers["content-encoding"], gzip.decompress(body)) == (200, "gzip", source)
        assert _get(port, "/static/web/holders.css")[0] == 404
        # Plain HTTP is sent to HTTPS before any file is read.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/static/web/wallet.js")
        redirect = connection.getresponse()
        assert (redirect.status, redirect.getheader("Location")) == (
            301,
            f"https://127.0.0.1:{port}/static/web/wallet.js",
        )
        connection.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_production_settings_read_static_root_and_not_the_apps_folders(collected):
    script = (
        "from django.conf import settings; "
        "print(settings.DEBUG, settings.WHITENOISE_USE_FINDERS, settings.WHITENOISE_AUTOREFRESH, "
        "settings.MIDDLEWARE.index('whitenoise.middleware.WhiteNoiseMiddleware') "
        "- settings.MIDDLEWARE.index('django.middleware.security.SecurityMiddleware'))"
    )
    env = {**collected, "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(ROOT)}
    shown = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert shown.stdout.split() == ["False", "False", "False", "1"]


def test_with_debug_off_and_nothing_collected_production_answers_404(settings, tmp_path):
    settings.DEBUG = False
    settings.WHITENOISE_USE_FINDERS = False
    settings.WHITENOISE_AUTOREFRESH = False
    settings.STATIC_ROOT = tmp_path
    assert Client().get("/static/web/wallet.js").status_code == 404


def test_the_test_and_embedded_modes_serve_the_apps_files_without_collectstatic(settings, tmp_path):
    # As the suite runs: settings imported with DEBUG on (finders on), DEBUG turned off at run time.
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path / "never-collected"
    client = Client()
    for path, content_type in FILES:
        response = client.get(f"/static/{path}")
        assert response.status_code == 200
        assert response["Content-Type"].startswith(content_type)
        assert response["Cache-Control"] == CACHE
        assert b"".join(response.streaming_content) == (SOURCES / path).read_bytes()
    assert client.get("/static/web/no-such-file.js").status_code == 404


def test_collectstatic_gzips_beside_each_file(collected):
    static_root = Path(collected["STATIC_ROOT"])
    wallet = static_root / "web" / "wallet.js"
    assert wallet.read_bytes() == (SOURCES / "web" / "wallet.js").read_bytes()
    assert gzip.decompress((static_root / "web" / "wallet.js.gz").read_bytes()) == wallet.read_bytes()
    assert not list(static_root.glob("web/wallet.*.js")), "no hashed names: the storage is not the manifest one"

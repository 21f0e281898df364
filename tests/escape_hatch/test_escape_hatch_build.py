"""``escape-hatch build|list|verify`` and the file it writes: deterministic, self-contained, recorded.

The page's behaviour in a browser (connect, wrong chain, withdraw) is tested in
``tests/browser/test_escape_hatch.py``; here the file's bytes, its hash and its records.
"""

import base64
import hashlib
import html
import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from eth_utils import keccak
from web3 import Web3

from chain.artifacts import bind
from recovery.escape_hatch import CALLS, build_escape_hatch, page_config, render_escape_hatch
from recovery.models import DeployedContract, Deployment, EscapeHatchBuild
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db]


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("escape-hatch", *args, stdout=out)
    return out.getvalue()


def _offline_deployment(*, with_asset: bool = True) -> Deployment:
    """A recorded deployment with no chain behind it: building the page reads no chain."""
    deployment = Deployment.objects.create(
        chain_id=31337,
        rpc_url="http://127.0.0.1:9",
        deployer="0x" + "11" * 20,
        executor="0x" + "22" * 20,
        committee="0x" + "33" * 20,
    )
    roles = [("vault", "DemoVault", "0x" + "aB" * 20)] + ([("asset", "DemoAsset", "0x" + "Cd" * 20)] * with_asset)
    for role, name, address in roles:
        DeployedContract.objects.create(
            deployment=deployment, role=role, name=name, address=address, block=1, tx_hash="0x" + "00" * 32
        )
    return Deployment.objects.prefetch_related("contracts").get(pk=deployment.pk)


def _sha_line(output: str) -> str:
    match = re.search(r"^sha256 ([0-9a-f]{64})$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def test_the_same_deployment_gives_the_same_bytes_and_one_record(tmp_path):
    deployment = _offline_deployment()

    first = _command("build", "--deployment", str(deployment.pk), "--out", str(tmp_path / "a"))
    second = _command("build", "--deployment", str(deployment.pk), "--out", str(tmp_path / "b"))

    (file_a,) = (tmp_path / "a").iterdir()
    (file_b,) = (tmp_path / "b").iterdir()
    assert file_a.read_bytes() == file_b.read_bytes() == render_escape_hatch(deployment)
    digest = hashlib.sha256(file_a.read_bytes()).hexdigest()
    assert _sha_line(first) == _sha_line(second) == digest
    assert "identical to build" in second
    (build,) = EscapeHatchBuild.objects.all()
    assert (build.sha256, build.size, build.name) == (digest, file_a.stat().st_size, file_a.name)
    assert file_a.name == f"lifeboat-escape-hatch-31337-{'0x' + 'ab' * 20}.html"
    # No stray temporary file is left beside it.
    assert [p.name for p in (tmp_path / "a").iterdir()] == [file_a.name]


def test_the_page_loads_nothing_from_anywhere_and_allows_only_its_own_script_and_style():
    page = render_escape_hatch(_offline_deployment()).decode()

    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:|//)""", page, re.IGNORECASE)
    assert "http://" not in page and "https://" not in page
    assert '<link rel="stylesheet"' not in page and "@import" not in page and "url(" not in page
    # One executable script and one style, both hashed into the Content-Security-Policy.
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
    assert len(scripts) == 1 and len(styles) == 1
    csp = html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1))
    for text, directive in ((scripts[0], "script-src"), (styles[0], "style-src")):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_each_baked_selector_is_the_artifacts_and_is_shown_on_the_page():
    deployment = _offline_deployment()
    config = page_config(deployment)
    page = render_escape_hatch(deployment).decode()
    vault = bind(Web3(), "DemoVault", config["contracts"]["vault"]["address"])  # encoding only: no node
    holder = "0x" + "12" * 20

    # web3.py's own encoding of the two writes starts with the baked selectors.
    assert vault.encode_abi("redeem", [5, holder, holder]).startswith(config["functions"]["vault.redeem"]["selector"])
    assert vault.encode_abi("emergencyWithdraw", [holder]).startswith(
        config["functions"]["vault.emergencyWithdraw"]["selector"]
    )
    for key, *_ in CALLS:
        function = config["functions"][key]
        assert function["selector"] == "0x" + keccak(text=function["signature"])[:4].hex()
        assert function["signature"] in page and function["selector"] in page
    assert config["functions"]["vault.redeem"]["signature"] == "redeem(uint256,address,address)"
    assert config["functions"]["vault.emergencyWithdraw"]["signature"] == "emergencyWithdraw(address)"
    assert config["chainId"] == "31337" and config["contracts"]["vault"]["address"] in page
    assert "0x" + keccak(text="NotShutDown()")[:4].hex() in config["errors"]


def test_verify_accepts_the_recorded_file_and_refuses_an_altered_copy(tmp_path):
    deployment = _offline_deployment()
    built = build_escape_hatch(deployment=deployment, out_dir=tmp_path)

    assert f"OK: matches build {built.build.pk}" in _command("verify", str(built.path))

    altered = tmp_path / "altered" / built.path.name
    altered.parent.mkdir()
    altered.write_bytes(built.path.read_bytes().replace(b"Withdraw from the vault", b"Withdraw from the vau1t"))
    with pytest.raises(CommandError, match=r"MISMATCH: .* was recorded with another SHA-256"):
        _command("verify", str(altered))

    stranger = tmp_path / "stranger.html"
    stranger.write_text("<!doctype html><title>not ours</title>")
    with pytest.raises(CommandError, match="UNKNOWN: no recorded build has SHA-256"):
        _command("verify", str(stranger))
    with pytest.raises(CommandError, match="is not a file"):
        _command("verify", str(tmp_path / "missing.html"))


def test_list_prints_each_build_with_its_hash_and_who_built_it(tmp_path):
    assert "no escape-hatch build recorded yet" in _command("list")
    deployment = _offline_deployment()
    user = UserFactory(username="hatch-builder", committee=True)
    built = build_escape_hatch(deployment=deployment, out_dir=tmp_path, created_by=user)

    listed = _command("list")
    assert built.build.sha256 in listed and built.path.name in listed and "by hatch-builder" in listed


def test_build_refuses_a_deployment_without_an_asset_or_an_unknown_id_and_an_unwritable_folder(tmp_path):
    with pytest.raises(CommandError, match="has no asset recorded: the escape hatch needs a vault and its asset"):
        _command("build", "--deployment", str(_offline_deployment(with_asset=False).pk), "--out", str(tmp_path))
    with pytest.raises(CommandError, match="there is no deployment 987654"):
        _command("build", "--deployment", "987654")

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    deployment = _offline_deployment()
    with pytest.raises(CommandError, match=r"cannot write the escape-hatch file into .*a-file"):
        _command("build", "--deployment", str(deployment.pk), "--out", str(blocker / "sub"))
    assert not EscapeHatchBuild.objects.exists()


def test_build_without_an_id_takes_the_current_deployment_of_the_node(deployment, tmp_path):
    output = _command("build", "--out", str(tmp_path))

    (written,) = Path(tmp_path).iterdir()
    assert f"for deployment {deployment.pk}" in output
    assert deployment.contracts.get(role="vault").address.lower() in written.name

"""Reads behind the vault page: the deployment's vault, the escape-hatch file offered for download,
and the shutdowns Lifeboat sent. The chain reads themselves are ``recovery/vault_status.py``'s."""

import hashlib
from dataclasses import dataclass

from recovery.escape_hatch import EscapeHatchUnavailable, file_name, render_escape_hatch
from recovery.models import Deployment, EscapeHatchBuild, VaultShutdown
from recovery.vault_status import VaultNotFound, current_vault_deployment


@dataclass(frozen=True, slots=True)
class EscapeHatchFile:
    name: str
    content: bytes
    sha256: str
    build: EscapeHatchBuild | None  # the recorded build with these bytes (None: not recorded yet)

    @property
    def size(self) -> int:
        return len(self.content)


def vault_deployment() -> tuple[Deployment | None, str]:
    """The current deployment with a vault, or ``None`` and why there is none."""
    try:
        return current_vault_deployment(), ""
    except VaultNotFound as error:
        return None, error.message


def find_deployment(*, deployment_id: int) -> Deployment | None:
    return Deployment.objects.filter(pk=deployment_id).prefetch_related("contracts").first()


def escape_hatch_file(deployment: Deployment) -> EscapeHatchFile | None:
    """The deployment's escape-hatch page as a build writes it (deterministic), and its record if any."""
    try:
        content = render_escape_hatch(deployment)
    except EscapeHatchUnavailable:
        return None
    digest = hashlib.sha256(content).hexdigest()
    build = EscapeHatchBuild.objects.filter(deployment=deployment, sha256=digest).first()
    return EscapeHatchFile(name=file_name(deployment), content=content, sha256=digest, build=build)


def list_shutdowns(deployment: Deployment) -> list[VaultShutdown]:
    return list(VaultShutdown.objects.filter(deployment=deployment).select_related("requested_by")[:20])

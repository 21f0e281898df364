"""The hub's spaces, from a JSON file: a list of ``{id, name, network, admins, moderators, members,
filters {minScore, onlyMembers}, voting {delay, period, type, quorum}, strategies [...]}``.

``format_space`` fills the defaults the real hub fills (empty lists, ``minScore`` 0, ``voting.*`` null,
a strategy's network defaulting to the space's).
"""

import json
from pathlib import Path
from typing import Any


class SpacesFileError(ValueError):
    """The spaces file is missing, not JSON, or a space in it is malformed (says which and why)."""


def format_space(raw: dict[str, Any]) -> dict[str, Any]:
    """One space with the real hub's defaults filled in."""
    space = dict(raw)
    for key in ("admins", "moderators", "members"):
        space[key] = list(space.get(key) or [])
    filters = dict(space.get("filters") or {})
    filters["minScore"] = filters.get("minScore") or 0
    filters["onlyMembers"] = bool(filters.get("onlyMembers"))
    space["filters"] = filters
    voting = dict(space.get("voting") or {})
    for key in ("delay", "period", "type", "quorum"):
        voting[key] = voting.get(key) or None
    voting["quorumType"] = voting.get("quorumType") or "default"
    voting["privacy"] = voting.get("privacy") or ""
    space["voting"] = voting
    space["network"] = str(space.get("network") or "1")
    space["symbol"] = space.get("symbol") or ""
    space["name"] = space.get("name") or space["id"]
    space["strategies"] = [
        {**strategy, "network": str(strategy.get("network") or space["network"])}
        for strategy in space.get("strategies") or []
    ]
    return space


def load_spaces(path: str | Path) -> dict[str, dict[str, Any]]:
    """The spaces of the file at ``path``, by id; SpacesFileError if it cannot be used."""
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as error:
        raise SpacesFileError(f"cannot read the spaces file {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise SpacesFileError(f"the spaces file {path} is not JSON: {error}") from None
    if not isinstance(raw, list):
        raise SpacesFileError(f"the spaces file {path} must hold a JSON list of spaces")
    spaces: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise SpacesFileError(f"space {index} in {path} needs a string id")
        for strategy in item.get("strategies") or []:
            params = strategy.get("params") if isinstance(strategy, dict) else None
            if strategy.get("name") == "erc20-votes" and not (isinstance(params, dict) and params.get("address")):
                raise SpacesFileError(f"space {item['id']}: an erc20-votes strategy needs params.address")
        spaces[item["id"]] = format_space(item)
    return spaces

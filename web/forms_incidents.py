"""The committee's forms: open an incident, run an impact analysis, build a recovery plan.

Forms only parse what a browser sends into the shapes the API's serializers accept (a textarea of
addresses becomes a list, a row of parameter-change inputs a ``{target, signature, args, value}``
mapping); every rule about the values themselves belongs to the services, whose refusals the
views put back on the field they name (:func:`field_for_error`).
"""

import json
from typing import Any

from django import forms

from config.errors import LifeboatError
from proposals.document import format_units
from recovery import plans
from recovery.apis import MAX_BLOCK, MAX_CHAIN_ID, MAX_GAS
from recovery.models import ImpactAnalysis, IncidentKind, PlanDelivery, PlanMode, PlanPolicy
from web.selectors_incidents import AbiFunction, find_artifact_function

CHANGE_ROWS = 2  # parameter-change rows offered when the form is new
MAX_CHANGE_ROWS = 20


class LinesField(forms.CharField):
    """A textarea of one value per line (blank lines dropped) → a list of stripped strings."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, strip=True, **kwargs)

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


class AccessibleForm(forms.Form):
    """Each control described by its help text and, once refused, by its error (``aria-describedby``)."""

    def describe_fields(self) -> None:
        for name, field in self.fields.items():
            bound = self[name]
            ids = [f"{bound.auto_id}_helptext"] if field.help_text else []
            if self.is_bound and self.errors.get(name):
                ids.append(f"{bound.auto_id}_error")
                field.widget.attrs["aria-invalid"] = "true"
            if ids:
                field.widget.attrs["aria-describedby"] = " ".join(ids)

    def refuse(self, field: str | None, message: str) -> None:
        """Put a service's refusal on ``field`` (or on the whole form), then describe the fields again."""
        self.add_error(field if field in self.fields else None, message)
        self.describe_fields()


def field_for_error(detail: dict[str, Any], names: list[str]) -> str | None:
    """The form field a service error's ``detail["field"]`` names (``"affected_tokens[2]"`` → ``affected_tokens``)."""
    field = str(detail.get("field") or "")
    base = field.split("[", 1)[0].split(" ", 1)[0]
    return base if base in names else None


class IncidentForm(AccessibleForm):
    """Exactly the fields ``POST /api/incidents/`` accepts."""

    title = forms.CharField(max_length=200, help_text="What broke, in a few words.")
    kind = forms.ChoiceField(choices=IncidentKind.choices)
    chain_id = forms.IntegerField(
        label="Chain id", min_value=1, max_value=MAX_CHAIN_ID, help_text="The chain the incident happened on."
    )
    affected_contracts = LinesField(
        label="Affected contracts",
        help_text="One EIP-55 checksummed address per line. A plan excludes them from claims by default.",
    )
    affected_tokens = LinesField(
        label="Affected tokens", help_text="One checksummed token address per line: what an analysis tracks."
    )
    exploiter_addresses = LinesField(
        label="Exploiter addresses", help_text="One checksummed address per line; never paid by a plan."
    )
    exploit_transactions = LinesField(
        label="Exploit transactions", help_text="One transaction hash per line (0x and 64 hex digits)."
    )
    detected_block = forms.IntegerField(
        label="Detected block", required=False, min_value=0, max_value=MAX_BLOCK, help_text="Optional."
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.describe_fields()

    def service_input(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class AnalysisForm(AccessibleForm):
    """The fields of ``POST /api/incidents/{id}/analyses/``."""

    rollback_block = forms.IntegerField(
        label="Rollback block", min_value=0, max_value=MAX_BLOCK, help_text="The last good block, before the incident."
    )
    reference_block = forms.IntegerField(
        label="Reference block", min_value=0, max_value=MAX_BLOCK, help_text="Now, or the block the venue froze at."
    )
    from_block = forms.IntegerField(
        label="Scan from block",
        required=False,
        min_value=0,
        max_value=MAX_BLOCK,
        initial=0,
        help_text="Where the log scan starts: at or before each token's first transfer (its deployment).",
    )
    assets = LinesField(
        label="Assets to track",
        help_text="One checksummed ERC-20 address per line; empty: the incident's affected tokens.",
    )
    price_feed = forms.CharField(
        label="Price feed",
        required=False,
        help_text="Optional: a Chainlink AggregatorV3 feed, read at the rollback block to value the losses.",
    )
    positions = LinesField(
        label="Positions",
        help_text="Optional, one per line: a tracked token's address, a space, and a position reader "
        "(to value its balances in the token's underlying asset).",
    )
    allow_unconfirmed = forms.BooleanField(
        label="Allow an unconfirmed block as the reference",
        required=False,
        help_text="Take a reference block within the confirmation depth of the head; the analysis is marked "
        "unconfirmed (a reorg may still change it).",
    )

    def __init__(self, *args: Any, readers: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["positions"].help_text += f" Readers: {', '.join(readers)}."
        self.describe_fields()

    def clean_from_block(self) -> int:
        value = self.cleaned_data["from_block"]
        return 0 if value is None else value

    def clean_positions(self) -> dict[str, str]:
        positions = {}
        for line in self.cleaned_data["positions"]:
            parts = line.split()
            if len(parts) != 2:
                raise forms.ValidationError(f"{line!r}: write a token address, a space, then a reader name")
            positions[parts[0]] = parts[1]
        return positions

    def service_input(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class PlanForm(AccessibleForm):
    """The plan editor: the fields of ``POST /api/analyses/{id}/plans/``, one budget per tracked asset
    and a few parameter-change rows (target, function or signature, JSON arguments, value)."""

    mode = forms.ChoiceField(
        choices=PlanMode.choices,
        widget=forms.RadioSelect,
        initial=PlanMode.RESTITUTE,
        help_text="Restitute pays each account its loss; restore gives back each balance at the rollback block; "
        "restore positions re-creates each affected margin account (collateral, debt, perpetual position) as it "
        "was at the rollback block on a migrated market, the venue below.",
    )
    venue = forms.CharField(
        label="Venue: the migrated margin market",
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"class": "mono", "spellcheck": "false", "autocomplete": "off", "list": "deployed-contracts"}
        ),
        help_text="Restore positions only: the checksummed address of the migrated MarginMarket the positions are "
        "re-created on. It must lend against the analysed market's asset and grant the RecoveryExecutor its "
        "RESTORER_ROLE. Leave empty for the other modes.",
    )
    policy = forms.ChoiceField(
        choices=PlanPolicy.choices,
        widget=forms.RadioSelect,
        initial=PlanPolicy.FULL,
        help_text="Full pays every claim whole; pro rata shares each asset's budget in proportion to the claims.",
    )
    exclusions = LinesField(
        label="Exclusions",
        help_text="Accounts never paid, one checksummed address per line; text after the address (a reason) is "
        "your note and is not stored: the plan records them as excluded by the plan. The incident's exploiters "
        "are always excluded.",
    )
    second_class = LinesField(
        label="Second class",
        help_text="Pro rata only: accounts paid only from what the others leave under the cap, one checksummed "
        "address per line (text after the address is your note). Each must have a claim and not be excluded.",
    )
    cap_numerator = forms.IntegerField(
        label="Cap numerator",
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="With the denominator: nobody is paid more than claim * numerator / denominator (Euler paid "
        "1005/1000). Leave both empty for no cap.",
    )
    cap_denominator = forms.IntegerField(
        label="Cap denominator",
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="The cap's denominator; the cap may not be below 1 (numerator ≥ denominator).",
    )
    include_contracts = forms.MultipleChoiceField(
        label="Pay these default-excluded contracts anyway",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Protocol contracts are left out of every claim by default, for the reason given; tick one "
        "only to pay it deliberately.",
    )
    dust_threshold = forms.CharField(
        label="Dust threshold (base units)",
        required=False,
        initial="0",
        help_text="Allocations below this many base units are not paid. An integer; 0 pays everything.",
    )
    delivery = forms.ChoiceField(
        choices=[
            ("", "Default (push with fallback for restitute, push for restore and restore positions)"),
            *PlanDelivery.choices,
        ],
        required=False,
        help_text="How payments reach recipients.",
    )
    claim_days = forms.IntegerField(
        label="Claim window (days)",
        required=False,
        min_value=1,
        max_value=plans.MAX_CLAIM_DAYS,
        help_text="Pull delivery only: days from the build until the claim deadline. Or give a deadline below.",
    )
    claim_deadline = forms.IntegerField(
        label="Claim deadline (unix timestamp)",
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Pull delivery only: the last second a claim is accepted.",
    )
    recovery_executor = forms.CharField(
        label="Recovery executor",
        required=False,
        max_length=100,
        help_text="The RecoveryExecutor the batches are bound to; empty: the deployment's.",
    )
    auto_execute = forms.BooleanField(
        label="Execute automatically once approved",
        required=False,
        help_text="Execution starts by itself once governance approves the plan.",
    )
    gas_ceiling = forms.IntegerField(
        label="Gas ceiling per batch",
        min_value=1,
        max_value=MAX_GAS,
        initial=10_000_000,
        help_text="The most gas one migration batch may use.",
    )
    change_count = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0, max_value=MAX_CHANGE_ROWS)

    def __init__(
        self,
        *args: Any,
        analysis: ImpactAnalysis,
        exclusions: list[plans.ContractExclusion],
        functions: list[tuple[str, list[AbiFunction]]],
        default_executor: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.analysis = analysis
        decimals = (analysis.summary or {}).get("decimals", {})
        self.assets: list[dict[str, Any]] = []
        for index, asset in enumerate(analysis.tracked_assets):
            places = decimals.get(asset)
            summary = (analysis.summary or {}).get("assets", {}).get(asset, {})
            losses = int(summary.get("total_losses", "0"))
            unit = f"1 token = 10^{places} base units" if places is not None else "decimals not recorded"
            self.fields[f"budget_{index}"] = forms.CharField(
                label=f"Budget for {asset} (base units)",
                required=False,
                help_text=f"An integer number of base units ({unit}); needed for pro rata, optional for full. "
                f"Total losses: {losses} base units"
                + (f" = {format_units(losses, places)} tokens." if places is not None else "."),
            )
            self.fields[f"payout_{index}"] = forms.CharField(
                label=f"Payout token for {asset}",
                required=False,
                help_text="Optional: a migrated token paid instead of the asset (same decimals); empty: the asset.",
            )
            self.fields[f"claims_{index}"] = forms.CharField(
                label=f"Claims CSV for {asset}",
                required=False,
                widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"}),
                help_text="Optional: replaces the analysis' claims of this asset. The header line `account,amount`, "
                "then one checksummed account and an amount in base units per line.",
            )
            self.assets.append({"index": index, "asset": asset, "decimals": places, "losses": losses})
        self.default_exclusions = exclusions
        self.fields["include_contracts"].choices = [(e.account, f"{e.account}: {e.reason}") for e in exclusions]
        if default_executor:
            self.fields[
                "recovery_executor"
            ].help_text = f"The RecoveryExecutor the batches are bound to; empty: the deployment's, {default_executor}."
        choices: list[Any] = [("", "— a pasted signature instead —")]
        choices += [(name, [(f.choice, f"{name}.{f.signature}") for f in group]) for name, group in functions]
        rows = self._row_count()
        self.initial.setdefault("change_count", rows)
        self.change_rows = []
        for i in range(rows):
            self.fields[f"change_{i}_target"] = forms.CharField(
                label="Target contract", required=False, help_text="The checksummed address the call goes to."
            )
            self.fields[f"change_{i}_function"] = forms.ChoiceField(
                label="Function of a compiled contract", required=False, choices=choices
            )
            self.fields[f"change_{i}_signature"] = forms.CharField(
                label="Or a function signature",
                required=False,
                help_text="Types only, e.g. setFee(uint256); used when no compiled function is chosen.",
            )
            self.fields[f"change_{i}_args"] = forms.CharField(
                label="Arguments (JSON array)",
                required=False,
                widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "class": "mono"}),
                help_text='In order, e.g. ["1000", "0xAbC…", true]: integers as decimal strings.',
            )
            self.fields[f"change_{i}_value"] = forms.CharField(
                label="Value (wei)", required=False, initial="0", help_text="Ether sent with the call, in wei."
            )
            self.change_rows.append(i)
        self.describe_fields()

    def _row_count(self) -> int:
        if not self.is_bound:
            return CHANGE_ROWS
        try:
            count = int(self.data.get("change_count") or CHANGE_ROWS)
        except ValueError:
            return CHANGE_ROWS
        return max(0, min(count, MAX_CHANGE_ROWS))

    def rows(self) -> list[dict[str, Any]]:
        """The change rows' bound fields, for the template."""
        return [
            {
                "index": i,
                "number": i + 1,
                **{part: self[f"change_{i}_{part}"] for part in ("target", "function", "signature", "args", "value")},
            }
            for i in self.change_rows
        ]

    def asset_rows(self) -> list[dict[str, Any]]:
        return [
            {
                **entry,
                "budget": self[f"budget_{entry['index']}"],
                "payout": self[f"payout_{entry['index']}"],
                "claims": self[f"claims_{entry['index']}"],
            }
            for entry in self.assets
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for i in self.change_rows:
            text = (data.get(f"change_{i}_args") or "").strip()
            if text:
                try:
                    args = json.loads(text)
                except ValueError as error:
                    self.add_error(f"change_{i}_args", f"not JSON: {error}")
                    continue
                if not isinstance(args, list):
                    self.add_error(f"change_{i}_args", 'the arguments are a JSON array, e.g. ["1000"]')
            choice = data.get(f"change_{i}_function")
            if choice and find_artifact_function(choice) is None:
                self.add_error(f"change_{i}_function", f"{choice} is not a function of a compiled contract")
        for entry in self.assets:
            csv_text = (data.get(f"claims_{entry['index']}") or "").strip()
            if csv_text:
                try:
                    plans.read_claims_csv(csv_text)
                except LifeboatError as error:  # a bad header
                    self.add_error(f"claims_{entry['index']}", str(error))
        self.describe_fields()
        return data

    def parameter_changes(self) -> list[dict[str, Any]]:
        """The filled rows as ``{target, signature, args, value}`` (a compiled function gives its signature)."""
        changes = []
        for i in self.change_rows:
            target = self.cleaned_data.get(f"change_{i}_target", "").strip()
            choice = self.cleaned_data.get(f"change_{i}_function") or ""
            signature = self.cleaned_data.get(f"change_{i}_signature", "").strip()
            args_text = (self.cleaned_data.get(f"change_{i}_args") or "").strip()
            value = (self.cleaned_data.get(f"change_{i}_value") or "").strip() or "0"
            if not (target or choice or signature or args_text):
                continue
            function = find_artifact_function(choice) if choice else None
            changes.append(
                {
                    "target": target,
                    "signature": function.signature if function else signature,
                    "args": json.loads(args_text) if args_text else [],
                    "value": value,
                    "row": i,
                }
            )
        return changes

    def service_input(self) -> dict[str, Any]:
        """What ``PlanCreateApi`` would receive: the same keys, the same shapes."""
        data = self.cleaned_data
        budgets, payouts, claims = {}, {}, {}
        for entry in self.assets:
            i, asset = entry["index"], entry["asset"]
            if (data.get(f"budget_{i}") or "").strip():
                budgets[asset] = data[f"budget_{i}"].strip()
            if (data.get(f"payout_{i}") or "").strip():
                payouts[asset] = data[f"payout_{i}"].strip()
            if (data.get(f"claims_{i}") or "").strip():
                claims[asset] = plans.read_claims_csv(data[f"claims_{i}"].strip())
        found: dict[str, Any] = {
            "mode": data["mode"],
            "policy": data["policy"],
            "budgets": budgets,
            "payout_tokens": payouts,
            "exclusions": [line.split()[0] for line in data["exclusions"]],
            "include_contracts": list(data["include_contracts"]),
            "dust_threshold": (data.get("dust_threshold") or "0").strip(),
            "parameter_changes": [
                {key: value for key, value in change.items() if key != "row"} for change in self.parameter_changes()
            ],
            "gas_ceiling": data["gas_ceiling"],
            "claims": claims,
            "delivery": data.get("delivery") or None,
            "auto_execute": bool(data.get("auto_execute")),
        }
        for key in ("claim_days", "claim_deadline"):
            if data.get(key) is not None:
                found[key] = data[key]
        if (data.get("recovery_executor") or "").strip():
            found["recovery_executor"] = data["recovery_executor"].strip()
        if (data.get("venue") or "").strip():
            found["venue"] = data["venue"].strip()
        if data["second_class"]:
            found["second_class"] = [line.split()[0] for line in data["second_class"]]
        for key in ("cap_numerator", "cap_denominator"):
            if data.get(key) is not None:
                found[key] = data[key]
        return found

    def change_row_for(self, message: str) -> int | None:
        """The row a ``parameter_changes[k]: …`` refusal is about (k counts filled rows only)."""
        if not message.startswith("parameter_changes["):
            return None
        try:
            k = int(message[len("parameter_changes[") :].split("]", 1)[0])
        except ValueError:
            return None
        filled = self.parameter_changes()
        return filled[k]["row"] if 0 <= k < len(filled) else None

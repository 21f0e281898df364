"""The monitors in Django's admin; the RPC URL is shown only in the change form (staff only)."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms import ModelForm

from monitoring.exceptions import InvalidRuleParams
from monitoring.models import Firing, Observation, PauseRecord, ResponseAction, Rule, WatchedDeployment
from monitoring.rules import validate_params


class RuleForm(ModelForm):
    class Meta:
        model = Rule
        fields = [
            "watched",
            "name",
            "kind",
            "params",
            "severity",
            "response",
            "pause_targets",
            "incident_kind",
            "consecutive_needed",
            "enabled",
            "metric",
        ]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("kind") is not None:
            try:
                data["params"] = validate_params(data["kind"], data.get("params") or {})
            except InvalidRuleParams as error:
                raise ValidationError({"params": error.message}) from None
        return data


class RuleInline(admin.TabularInline):
    model = Rule
    form = RuleForm
    extra = 0
    fields = ["name", "kind", "params", "severity", "response", "consecutive_needed", "enabled", "state"]
    readonly_fields = ["state"]


@admin.register(WatchedDeployment)
class WatchedDeploymentAdmin(admin.ModelAdmin):
    list_display = ["name", "chain_id", "enabled", "last_block", "head_block", "last_run_at"]
    readonly_fields = [
        "last_block",
        "last_block_hash",
        "head_block",
        "head_changed_at",
        "last_run_at",
        "last_error",
        "lease_owner",
        "lease_until",
    ]
    inlines = [RuleInline]


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ["name", "watched", "kind", "severity", "response", "state", "consecutive_failures", "enabled"]
    list_filter = ["kind", "state", "severity", "enabled"]
    readonly_fields = ["state", "consecutive_failures", "last_cause", "last_observed_at", "last_ok_at"]


@admin.register(Observation)
class ObservationAdmin(admin.ModelAdmin):
    list_display = ["rule", "block_number", "ok", "cause", "value", "observed_at"]
    list_filter = ["ok"]
    readonly_fields = [f.name for f in Observation._meta.fields]


@admin.register(Firing)
class FiringAdmin(admin.ModelAdmin):
    list_display = ["pk", "rule", "cause", "status", "first_block", "last_block", "times_fired", "incident"]
    list_filter = ["status"]
    readonly_fields = [
        "rule",
        "cause",
        "first_block",
        "last_block",
        "times_fired",
        "evidence",
        "incident",
        "opened_at",
        "last_fired_at",
    ]


@admin.register(ResponseAction)
class ResponseActionAdmin(admin.ModelAdmin):
    list_display = ["firing", "kind", "target", "status", "attempts", "tx_hash", "block_number"]
    list_filter = ["kind", "status"]


@admin.register(PauseRecord)
class PauseRecordAdmin(admin.ModelAdmin):
    list_display = ["contract", "action", "block_number", "by_user", "by_address", "recorded_at"]

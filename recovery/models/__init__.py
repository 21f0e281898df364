"""Recovery models, one module per concern; every model is importable from ``recovery.models``."""

from recovery.models.core import (
    AccountImpact,
    Allocation,
    AnalysisStatus,
    BalanceSnapshot,
    DeployedContract,
    Deployment,
    ImpactAnalysis,
    ImpactKind,
    Incident,
    IncidentKind,
    IncidentStatus,
    MigrationBatch,
    PlanAsset,
    PlanDelivery,
    PlanMode,
    PlanPolicy,
    PlanStatus,
    RecoveryPlan,
)
from recovery.models.emergency import EscapeHatchBuild, VaultShutdown
from recovery.models.execution import *  # noqa: F403  (its __all__ lists the execution models)
from recovery.models.execution import __all__ as _execution_all
from recovery.models.margin import MarginAccountImpact, MarginLiquidation

__all__ = [
    "AccountImpact",
    "Allocation",
    "AnalysisStatus",
    "BalanceSnapshot",
    "DeployedContract",
    "Deployment",
    "EscapeHatchBuild",
    "ImpactAnalysis",
    "ImpactKind",
    "Incident",
    "IncidentKind",
    "IncidentStatus",
    "MarginAccountImpact",
    "MarginLiquidation",
    "MigrationBatch",
    "PlanAsset",
    "PlanDelivery",
    "PlanMode",
    "PlanPolicy",
    "PlanStatus",
    "RecoveryPlan",
    "VaultShutdown",
    *_execution_all,
]

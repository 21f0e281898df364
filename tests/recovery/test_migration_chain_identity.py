"""Migration 0003 keeps every stored delta: on SQLite their text is re-encoded for the wider field."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from recovery.fields import INT256_MAX, INT256_MIN
from recovery.models import AccountImpact

BEFORE = ("recovery", "0002_roles")
AFTER = ("recovery", "0003_chain_identity")
DELTAS = [INT256_MIN, -(10**18) - 1, -1, 0, 1, 10**18 + 1, INT256_MAX]


@pytest.mark.django_db(transaction=True)
def test_deltas_stored_before_the_migration_read_back_the_same_after_it():
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    try:
        old = executor.loader.project_state([BEFORE]).apps.get_model("recovery", "AccountImpact")
        for index, delta in enumerate(DELTAS):
            # analysis has no database constraint: a bare id is enough for the row.
            old.objects.create(
                analysis_id=1, account=f"0x{index:040x}", asset="0x" + "ab" * 20, before=0, after=0, delta=delta
            )
        executor = MigrationExecutor(connection)
        executor.migrate([AFTER])
        assert list(AccountImpact.objects.order_by("delta").values_list("delta", flat=True)) == DELTAS
        assert AccountImpact.objects.filter(delta__lt=0).count() == 3
    finally:
        AccountImpact.objects.all().delete()
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

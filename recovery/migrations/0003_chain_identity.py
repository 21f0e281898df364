"""Chain identity and finality of impact analyses; deltas widened to any difference of two uint256.

Analyses record the node's chain id and the hash of each block they use; balance snapshots are
keyed by block hash (those stored before carry none, so they never match the chain and are
dropped at their first use). ``AccountImpact.delta`` becomes a ``Uint256DeltaField``: on
PostgreSQL the column stays NUMERIC(78, 0); on SQLite the stored text is re-encoded from the
int256 offset (2**255) to the new one (2**256-1).
"""

import recovery.fields
from django.db import migrations, models


INT256_OFFSET = 2**255  # Int256Field's SQLite offset
DELTA_OFFSET = 2**256 - 1  # Uint256DeltaField's SQLite offset


def _shift_sqlite_deltas(apps, schema_editor, shift):
    if schema_editor.connection.vendor != "sqlite":
        return
    table = apps.get_model("recovery", "AccountImpact")._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'SELECT "id", "delta" FROM "{table}"')  # noqa: S608
        rows = [(str(int(delta) + shift).zfill(78), pk) for pk, delta in cursor.fetchall()]
        cursor.executemany(f'UPDATE "{table}" SET "delta" = %s WHERE "id" = %s', rows)  # noqa: S608


def reencode_sqlite_deltas(apps, schema_editor):
    _shift_sqlite_deltas(apps, schema_editor, DELTA_OFFSET - INT256_OFFSET)


def restore_sqlite_deltas(apps, schema_editor):
    _shift_sqlite_deltas(apps, schema_editor, INT256_OFFSET - DELTA_OFFSET)


class Migration(migrations.Migration):

    dependencies = [
        ('recovery', '0002_roles'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='balancesnapshot',
            name='one_snapshot_per_block',
        ),
        migrations.AddField(
            model_name='balancesnapshot',
            name='block_hash',
            field=models.CharField(blank=True, max_length=66),
        ),
        migrations.AddField(
            model_name='impactanalysis',
            name='from_block_hash',
            field=models.CharField(blank=True, max_length=66),
        ),
        migrations.AddField(
            model_name='impactanalysis',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, help_text='Last sign of life of the worker running it (a live run is not started twice)', null=True),
        ),
        migrations.AddField(
            model_name='impactanalysis',
            name='node_chain_id',
            field=models.PositiveBigIntegerField(blank=True, help_text='eth_chainId of the node', null=True),
        ),
        migrations.AddField(
            model_name='impactanalysis',
            name='reference_block_hash',
            field=models.CharField(blank=True, max_length=66),
        ),
        migrations.AddField(
            model_name='impactanalysis',
            name='rollback_block_hash',
            field=models.CharField(blank=True, max_length=66),
        ),
        migrations.AddField(
            model_name='impactanalysis',
            name='unconfirmed',
            field=models.BooleanField(default=False, help_text='The reference block was within the confirmation depth of the head, by request'),
        ),
        migrations.AlterField(
            model_name='accountimpact',
            name='delta',
            field=recovery.fields.Uint256DeltaField(),
        ),
        migrations.RunPython(reencode_sqlite_deltas, restore_sqlite_deltas),
        migrations.AddConstraint(
            model_name='balancesnapshot',
            constraint=models.UniqueConstraint(fields=('chain_id', 'token', 'block', 'block_hash'), name='one_snapshot_per_block'),
        ),
    ]

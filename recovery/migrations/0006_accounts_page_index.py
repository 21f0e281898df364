# The holders' accounts table, indexed for its deep pages on PostgreSQL.
#
# The table (web/selectors_holders.py: affected_accounts_page) lists an asset's losers ordered by
# (delta, account) and selects one page's ids first: SELECT id ... ORDER BY delta, account
# LIMIT 50 OFFSET n. On impact_delta (analysis, asset, kind, delta) PostgreSQL reads every
# skipped row from the table for its account (an incremental sort), 46 ms for page 900 of
# 100,000 losers; on this index, which holds the whole order and the id, it is an index-only scan
# of the skipped entries, 12 ms. It costs the analysis's bulk insert about 0.5 s per 100,000 rows.
#
# This migration first created (analysis_id, UPPER(account) text_pattern_ops) for the address
# prefix search; once recovery.impact ANALYZEs the rows after storing them, the search is 8 to 32
# index ranges on one_row_per_account_asset (0.3 ms, against 0.2 ms on that index), so it was
# dropped for this one: it cost the insert about 0.3 s per 100,000 rows. benchmarks/RESULTS.md,
# "Web load", has the figures. PostgreSQL only: SQLite has no INCLUDE, and is not served at scale.

from django.db import migrations

INDEX = "impact_delta_account"
OLD_INDEX = "impact_account_prefix"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {OLD_INDEX}")
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON recovery_accountimpact "
            "(analysis_id, asset, kind, delta, account) INCLUDE (id)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("recovery", "0005_execution")]

    operations = [migrations.RunPython(create, drop, elidable=False)]

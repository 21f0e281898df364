# The holders' accounts search by address prefix, indexed on PostgreSQL.
#
# The search (web/selectors_holders.py: list_affected_accounts) filters
# UPPER(account::text) LIKE '0XABC%' (Django's istartswith) beside index ranges on the case
# variants of the prefix. On PostgreSQL the planner walked impact_delta (every loser of the asset)
# and filtered 100,000 rows per search; this index on the expression the query filters, with
# text_pattern_ops so LIKE 'prefix%' is an index range in any collation, reads only the matches.
# PostgreSQL only: SQLite has no operator classes, and there the case ranges serve.

from django.db import migrations

INDEX = "impact_account_prefix"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON recovery_accountimpact "
            "(analysis_id, (UPPER(account::text)) text_pattern_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("recovery", "0005_execution")]

    operations = [migrations.RunPython(create, drop, elidable=False)]

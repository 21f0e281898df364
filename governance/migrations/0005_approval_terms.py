# PlanApproved's new terms: the incident key and plan version, the delivery and the claim deadline.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0004_ballots"),
        ("recovery", "0004_plan_delivery"),
    ]

    operations: list = []

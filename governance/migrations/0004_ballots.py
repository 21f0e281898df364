# Filled in by the ballot-relay work: operations for the models in governance/models/ballots.py.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("governance", "0003_votes")]

    operations: list = []

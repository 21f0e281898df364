# Filled in by the indexer work: operations for the models in governance/models/votes.py.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("governance", "0002_publication")]

    operations: list = []

# Filled in by the rehearsal work: operations for the models in proposals/models/rehearsal.py.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("proposals", "0001_initial")]

    operations: list = []

# Filled in by the sign-off work: operations for the models in proposals/models/signoff.py.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("proposals", "0002_rehearsal")]

    operations: list = []

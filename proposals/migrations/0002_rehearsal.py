# Filled in by the rehearsal work: operations for the models in proposals/models/rehearsal.py.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    # governance 0001 for the venue foreign key (governance 0002 depends on proposals 0001: no cycle).
    dependencies = [
        ("proposals", "0001_initial"),
        ("governance", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations: list = [
        migrations.CreateModel(
            name="Rehearsal",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("running", "Running"),
                            ("passed", "Passed"),
                            ("failed", "Failed"),
                            ("error", "Error"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                (
                    "content_hash",
                    models.CharField(help_text="The document's content hash the rehearsal ran", max_length=66),
                ),
                ("chain_id", models.PositiveBigIntegerField(blank=True, null=True)),
                ("fork_block", models.PositiveBigIntegerField(blank=True, null=True)),
                ("fork_block_hash", models.CharField(blank=True, max_length=66)),
                ("report", models.JSONField(blank=True, null=True)),
                ("report_hash", models.CharField(blank=True, max_length=66)),
                ("summary", models.TextField(blank=True)),
                ("error", models.TextField(blank=True, help_text="Why the rehearsal could not run (redacted)")),
                ("total_gas", models.PositiveBigIntegerField(blank=True, null=True)),
                ("seconds", models.FloatField(default=0, help_text="Wall time; timing only, never an amount")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "proposal",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rehearsals",
                        to="proposals.proposaldocument",
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "venue",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="rehearsals",
                        to="governance.governorvenue",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
            },
        ),
    ]

# Operations for the models in governance/models/votes.py (the indexer's vote rows).

import django.db.models.deletion
from django.db import migrations, models

import recovery.fields


class Migration(migrations.Migration):
    dependencies = [("governance", "0002_publication")]

    operations = [
        migrations.CreateModel(
            name="VoteRecord",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("voter", models.CharField(help_text="EIP-55 address of the voter", max_length=42)),
                ("support", models.PositiveSmallIntegerField(choices=[(0, "Against"), (1, "For"), (2, "Abstain")])),
                ("weight", recovery.fields.Uint256Field(help_text="Votes counted, in the token's base units")),
                ("reason", models.TextField(blank=True)),
                ("with_params", models.BooleanField(default=False, help_text="Logged as VoteCastWithParams")),
                ("params", models.TextField(blank=True, help_text="0x-hex of the params bytes (VoteCastWithParams)")),
                ("block_number", models.PositiveBigIntegerField()),
                ("block_hash", models.CharField(max_length=66)),
                ("tx_hash", models.CharField(max_length=66)),
                ("log_index", models.PositiveIntegerField()),
                ("recorded_at", models.DateTimeField(auto_now_add=True)),
                (
                    "publication",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="votes",
                        to="governance.publication",
                    ),
                ),
            ],
            options={
                "ordering": ["block_number", "log_index"],
                "indexes": [models.Index(fields=["publication", "voter"], name="governance_vote_voter")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("publication", "block_number", "log_index"), name="governance_one_vote_per_log"
                    )
                ],
            },
        ),
    ]

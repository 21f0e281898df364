# The gasless ballot relay: one BallotRelay per (publication, voter), stored before its transaction is sent.

import django.db.models.deletion
from django.db import migrations, models

import recovery.fields


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0003_votes"),
    ]

    operations = [
        migrations.CreateModel(
            name="BallotRelay",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("chain_id", models.PositiveBigIntegerField()),
                ("governor", models.CharField(max_length=42)),
                ("proposal_id", recovery.fields.Uint256Field()),
                ("voter", models.CharField(help_text="EIP-55 address of the voter", max_length=42)),
                ("support", models.PositiveSmallIntegerField(help_text="0 against, 1 for, 2 abstain")),
                ("primary_type", models.CharField(help_text="Ballot or ExtendedBallot", max_length=16)),
                ("reason", models.TextField(blank=True)),
                ("params", models.TextField(blank=True, help_text="0x-hex; ExtendedBallot only")),
                ("nonce", recovery.fields.Uint256Field(help_text="The voter's governor nonce the ballot consumes")),
                ("signature", models.TextField(help_text="0x-hex, as relayed")),
                (
                    "kind",
                    models.CharField(
                        choices=[("ecdsa", "ECDSA (an account)"), ("eip1271", "EIP-1271 (a contract wallet)")],
                        max_length=8,
                    ),
                ),
                ("digest", models.CharField(help_text="0x + the EIP-712 digest signed", max_length=66)),
                (
                    "status",
                    models.CharField(
                        choices=[("sending", "Sending"), ("relayed", "Relayed (VoteCast seen)"), ("failed", "Failed")],
                        default="sending",
                        max_length=8,
                    ),
                ),
                ("checked_block", models.PositiveBigIntegerField()),
                ("checked_block_hash", models.CharField(max_length=66)),
                ("relayer", models.CharField(max_length=42)),
                ("relayer_nonce", models.PositiveBigIntegerField()),
                ("signed_tx", models.BinaryField(blank=True, null=True)),
                ("tx_hash", models.CharField(max_length=66)),
                ("block_number", models.PositiveBigIntegerField(blank=True, null=True)),
                ("block_hash", models.CharField(blank=True, max_length=66)),
                ("log_index", models.PositiveIntegerField(blank=True, null=True)),
                ("weight", recovery.fields.Uint256Field(blank=True, null=True)),
                ("error", models.TextField(blank=True)),
                ("attempted_at", models.DateTimeField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "publication",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="ballots", to="governance.publication"
                    ),
                ),
            ],
            options={
                "ordering": ["pk"],
                "indexes": [models.Index(fields=["voter", "attempted_at"], name="ballot_relay_voter_attempted")],
                "constraints": [
                    models.UniqueConstraint(fields=("publication", "voter"), name="one_ballot_relay_per_voter")
                ],
            },
        ),
    ]

# Filled in by the sign-off work: operations for the models in proposals/models/signoff.py.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("proposals", "0002_rehearsal"),
        # SignOff.venue: the GovernorVenue model is created by governance's first migration.
        ("governance", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='CommitteeMember',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('address', models.CharField(help_text='EIP-55 address the member signs with', max_length=42, unique=True)),
                ('active', models.BooleanField(default=True)),
                ('added_at', models.DateTimeField(auto_now_add=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='committee_members', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['pk'],
            },
        ),
        migrations.CreateModel(
            name='SignOff',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('signer', models.CharField(help_text="EIP-55 address: the member's, as signed", max_length=42)),
                ('signature', models.TextField(help_text='0x-hex; 65 bytes r, s, v (v 27 or 28) for ECDSA')),
                ('digest', models.CharField(help_text='0x + the EIP-712 digest signed', max_length=66)),
                ('chain_id', models.PositiveBigIntegerField(help_text="The typed data's domain chainId")),
                ('recovery_executor', models.CharField(help_text="The typed data's domain verifyingContract", max_length=42)),
                ('kind', models.CharField(choices=[('ecdsa', 'ECDSA (an externally owned account)'), ('eip1271', 'EIP-1271 (a contract wallet, such as a Safe)')], max_length=8)),
                ('verified_block', models.PositiveBigIntegerField(blank=True, help_text='EIP-1271: the block isValidSignature was read at', null=True)),
                ('verified_block_hash', models.CharField(blank=True, max_length=66)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('document', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='signoffs', to='proposals.proposaldocument')),
                ('member', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='signoffs', to='proposals.committeemember')),
                ('submitted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                ('venue', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='signoffs', to='governance.governorvenue')),
            ],
            options={
                'ordering': ['created_at', 'pk'],
            },
        ),
        migrations.AddConstraint(
            model_name='committeemember',
            constraint=models.UniqueConstraint(condition=models.Q(('active', True)), fields=('user',), name='one_active_committee_address_per_user'),
        ),
        migrations.AddConstraint(
            model_name='signoff',
            constraint=models.UniqueConstraint(fields=('document', 'venue', 'member'), name='one_signoff_per_member_and_venue'),
        ),
    ]

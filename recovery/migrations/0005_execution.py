# Execution of approved plans: runs, batch sends with every transaction hash, sender nonces, the audit log.

import django.db.models.deletion
import recovery.fields
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("recovery", "0004_plan_delivery"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ExecutionRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('chain_id', models.PositiveBigIntegerField()),
                ('recovery_executor', models.CharField(help_text='EIP-55 address of the RecoveryExecutor', max_length=42)),
                ('onchain_plan_id', recovery.fields.Uint256Field()),
                ('status', models.CharField(choices=[('ready', 'Ready (approved on chain, not started)'), ('running', 'Running'), ('paused', 'Paused'), ('cancelled', 'Cancelled'), ('completed', 'Completed'), ('failed', 'Failed')], default='ready', max_length=16)),
                ('approval_block', models.PositiveBigIntegerField()),
                ('approval_block_hash', models.CharField(max_length=66)),
                ('approval_tx', models.CharField(max_length=66)),
                ('incident_key', models.CharField(blank=True, max_length=66)),
                ('version', models.PositiveBigIntegerField(default=0)),
                ('delivery', models.PositiveSmallIntegerField(default=0, help_text='0 push, 1 push with fallback, 2 pull')),
                ('started_via', models.CharField(blank=True, help_text='api, cli or auto', max_length=16)),
                ('auto_started', models.BooleanField(default=False)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('pause_reason', models.TextField(blank=True)),
                ('paused_by_system', models.BooleanField(default=False, help_text='Paused by the system (low gas funds): resumed by itself once the cause is gone')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('plan_asset', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='execution', to='recovery.planasset')),
                ('started_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-created_at', '-pk'],
            },
        ),
        migrations.CreateModel(
            name='ExecutionEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=32)),
                ('message', models.TextField()),
                ('data', models.JSONField(default=dict)),
                ('actor_label', models.CharField(default='system', help_text='user name, cli or system', max_length=150)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                ('run', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='events', to='recovery.executionrun')),
            ],
            options={
                'ordering': ['pk'],
            },
        ),
        migrations.CreateModel(
            name='BatchSend',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('index', models.PositiveIntegerField()),
                ('state', models.CharField(choices=[('pending', 'Pending'), ('signed', 'Signed (stored, maybe not broadcast)'), ('sent', 'Sent'), ('confirmed', 'Confirmed'), ('failed', 'Failed')], default='pending', max_length=16)),
                ('sender', models.CharField(help_text='EIP-55 address of the executor key that sends it', max_length=42)),
                ('nonce', models.PositiveBigIntegerField(blank=True, null=True)),
                ('raw_tx', models.TextField(blank=True, help_text='0x-hex signed bytes of the current transaction')),
                ('tx_hash', models.CharField(blank=True, max_length=66)),
                ('max_fee_per_gas', recovery.fields.Uint256Field(blank=True, null=True)),
                ('max_priority_fee_per_gas', recovery.fields.Uint256Field(blank=True, null=True)),
                ('gas_limit', models.PositiveBigIntegerField(blank=True, null=True)),
                ('sent_at', models.DateTimeField(blank=True, help_text='When the current transaction was broadcast', null=True)),
                ('enqueued_at', models.DateTimeField(blank=True, null=True)),
                ('block_number', models.PositiveBigIntegerField(blank=True, null=True)),
                ('block_hash', models.CharField(blank=True, max_length=66)),
                ('gas_used', models.PositiveBigIntegerField(blank=True, null=True)),
                ('effective_gas_price', recovery.fields.Uint256Field(blank=True, null=True)),
                ('confirmed_by', models.CharField(blank=True, help_text='receipt (ours) or bitmap (the chain says it ran, found by its log)', max_length=16)),
                ('failure_reason', models.TextField(blank=True)),
                ('replacements', models.PositiveIntegerField(default=0)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('batch', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='sends', to='recovery.migrationbatch')),
                ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='batches', to='recovery.executionrun')),
            ],
            options={
                'ordering': ['run', 'index'],
            },
        ),
        migrations.CreateModel(
            name='SenderKey',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('chain_id', models.PositiveBigIntegerField()),
                ('address', models.CharField(max_length=42)),
                ('next_nonce', models.PositiveBigIntegerField(blank=True, null=True)),
                ('lease_owner', models.CharField(blank=True, max_length=128)),
                ('lease_until', models.DateTimeField(blank=True, null=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('chain_id', 'address'), name='one_sender_per_chain_key')],
            },
        ),
        migrations.CreateModel(
            name='SentTransaction',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('chain_id', models.PositiveBigIntegerField()),
                ('sender', models.CharField(max_length=42)),
                ('nonce', models.PositiveBigIntegerField()),
                ('tx_hash', models.CharField(max_length=66, unique=True)),
                ('raw_tx', models.TextField()),
                ('max_fee_per_gas', recovery.fields.Uint256Field()),
                ('max_priority_fee_per_gas', recovery.fields.Uint256Field()),
                ('purpose', models.CharField(default='batch', help_text='batch, replacement or gap_fill', max_length=16)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('batch_send', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='transactions', to='recovery.batchsend')),
            ],
            options={
                'ordering': ['pk'],
            },
        ),
        migrations.AddIndex(
            model_name='batchsend',
            index=models.Index(fields=['state', 'sender'], name='batch_send_state_sender'),
        ),
        migrations.AddConstraint(
            model_name='batchsend',
            constraint=models.UniqueConstraint(fields=('run', 'index'), name='one_send_per_run_batch'),
        ),
    ]

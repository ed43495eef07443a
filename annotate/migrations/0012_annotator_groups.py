# Suspected groups of annotators per project (annotate/quality/groups.py): the group, its
# evidence and its decision, and its members.

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotate', '0011_gold_exposure'),
        ('experts', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AnnotatorGroup',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('status', models.CharField(choices=[('suspected', 'suspected'), ('confirmed', 'confirmed'), ('cleared', 'cleared'), ('merged', 'merged')], default='suspected', max_length=16)),
                ('signals', models.JSONField(blank=True, default=list, help_text='The signals behind its edges: agreement, timing, credential, fingerprint.')),
                ('evidence', models.JSONField(blank=True, default=dict, help_text="Its edges, each with the signals' scores, shared items, hashed fingerprints and file hashes (never an address or a user agent), and the thresholds in force.")),
                ('detected_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('decision_note', models.TextField(blank=True)),
                ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('merged_into', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='annotate.annotatorgroup')),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='annotator_groups', to='annotate.project')),
            ],
        ),
        migrations.CreateModel(
            name='AnnotatorGroupMember',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('labels_at_flag', models.PositiveIntegerField(default=0)),
                ('added_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('expert', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='annotator_groups', to='experts.expertprofile')),
                ('group', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='members', to='annotate.annotatorgroup')),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='annotate.project')),
            ],
        ),
        migrations.AddIndex(
            model_name='annotatorgroup',
            index=models.Index(fields=['project', 'status'], name='annotatorgroup_project_status'),
        ),
        migrations.AddIndex(
            model_name='annotatorgroupmember',
            index=models.Index(fields=['project', 'expert'], name='groupmember_project_expert'),
        ),
        migrations.AddConstraint(
            model_name='annotatorgroupmember',
            constraint=models.UniqueConstraint(fields=('group', 'expert'), name='annotatorgroupmember_unique'),
        ),
    ]

# Log-in fingerprints: keyed hashes of the address and user agent of each successful log-in
# (rlhf_platform/accounts/fingerprints.py), kept LOGIN_FINGERPRINT_RETENTION_DAYS.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='LoginFingerprint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('device', models.CharField(max_length=64)),
                ('network', models.CharField(max_length=64)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='login_fingerprints', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(fields=['device'], name='loginfingerprint_device'), models.Index(fields=['user', 'created_at'], name='loginfingerprint_user'), models.Index(fields=['created_at'], name='loginfingerprint_created')],
            },
        ),
    ]

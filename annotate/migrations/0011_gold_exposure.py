# Gold that does not leak: a per-project exposure cap, each item's exposure count and retirement,
# silver gold (ordinary items promoted into the pool with their consensus as answer), and the
# partial index the gold claim reads (live gold of a project, least exposed first).
#
# The new item columns carry database defaults too: the ingest writer COPYs items without them.
# Existing gold items start with the exposures they already had (their gold assignments), and
# those already served to at least the default cap are retired at once.

from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone


def exposures_backfill(apps, schema_editor):
    Item = apps.get_model('annotate', 'Item')
    Assignment = apps.get_model('annotate', 'Assignment')
    Project = apps.get_model('annotate', 'Project')
    served = (
        Assignment.objects.filter(item_id=OuterRef('pk'), is_gold=True)
        .order_by()
        .values('item_id')
        .annotate(n=Count('pk'))
        .values('n')
    )
    Item.objects.filter(is_gold=True).update(gold_exposures=Coalesce(Subquery(served), 0))
    cap = Project.objects.filter(pk=OuterRef('project_id')).values('gold_exposure_cap')
    Item.objects.filter(is_gold=True, gold_exposures__gte=Subquery(cap)).update(gold_retired_at=timezone.now())


class Migration(migrations.Migration):

    dependencies = [
        ('annotate', '0010_suspension_cusum_silver_revisions'),
    ]

    operations = [
        migrations.AddField(
            model_name='project',
            name='gold_exposure_cap',
            field=models.PositiveSmallIntegerField(default=12, help_text='Annotators a gold item is served to before it is retired from the gold pool.'),
        ),
        migrations.AlterField(
            model_name='project',
            name='gold_feedback',
            field=models.BooleanField(default=True, help_text='Show experts the expected answer and explanation of the gold items they answered, once an item is retired (the gold review).'),
        ),
        migrations.AddConstraint(
            model_name='project',
            constraint=models.CheckConstraint(condition=models.Q(('gold_exposure_cap__gte', 1), ('gold_exposure_cap__lte', 1000)), name='project_gold_exposure_cap_range'),
        ),
        migrations.AddField(
            model_name='item',
            name='gold_source',
            field=models.CharField(blank=True, choices=[('', 'lab gold or none'), ('silver', 'silver: promoted from a sure consensus')], db_default='', default='', max_length=8),
        ),
        migrations.AddField(
            model_name='item',
            name='gold_exposures',
            field=models.PositiveIntegerField(db_default=0, default=0, help_text='Annotators this item was served to as gold.'),
        ),
        migrations.AddField(
            model_name='item',
            name='gold_retired_at',
            field=models.DateTimeField(blank=True, help_text='When it reached the exposure cap: never served as gold again.', null=True),
        ),
        migrations.RemoveConstraint(
            model_name='item',
            name='item_gold_has_answer',
        ),
        migrations.AddConstraint(
            model_name='item',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('gold__isnull', True), ('is_gold', False)), models.Q(('gold__isnull', False), ('gold_source', ''), ('is_gold', True)), models.Q(('gold__isnull', False), ('gold_source', 'silver'), ('is_gold', False)), _connector='OR'), name='item_gold_has_answer'),
        ),
        migrations.AddIndex(
            model_name='item',
            index=models.Index(condition=models.Q(('gold__isnull', False), ('gold_retired_at__isnull', True)), fields=['project', 'gold_exposures', 'id'], name='item_gold_live'),
        ),
        migrations.RunPython(exposures_backfill, migrations.RunPython.noop),
    ]

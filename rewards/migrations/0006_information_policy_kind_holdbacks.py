# RewardPolicy.kind (the old formula stays the default) and the settings of the information kind;
# a held account kind per expert; ledger kinds for holdback release and forfeit and adjustments.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('rewards', '0005_budget_credits_with_approval'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='ledgeraccount',
            name='ledger_account_owner_matches_kind',
        ),
        migrations.AddField(
            model_name='rewardpolicy',
            name='holdback_bp',
            field=models.PositiveIntegerField(default=2000, help_text='Share of each reward held back.'),
        ),
        migrations.AddField(
            model_name='rewardpolicy',
            name='kind',
            field=models.CharField(choices=[('agreement', 'agreement with the consensus'), ('information', 'information: peer prediction and chance-corrected accuracy')], default='agreement', max_length=16),
        ),
        migrations.AddField(
            model_name='rewardpolicy',
            name='peer_weight_bp',
            field=models.PositiveIntegerField(default=10000, help_text='Weight of the peer-prediction (Correlated Agreement) term.'),
        ),
        migrations.AddField(
            model_name='rewardpolicy',
            name='right_weight_bp',
            field=models.PositiveIntegerField(default=10000, help_text='Weight of the chance-corrected accuracy term (gold and consensus).'),
        ),
        migrations.AddField(
            model_name='rewardpolicy',
            name='score_prior',
            field=models.PositiveIntegerField(default=5, help_text="Pseudo-labels of score 0 added to the window's average (shrinks short windows)."),
        ),
        migrations.AddField(
            model_name='rewardpolicy',
            name='score_window',
            field=models.PositiveIntegerField(default=50, help_text="The annotator's last N scored labels in the project averaged before clipping."),
        ),
        migrations.AddField(
            model_name='rewardpolicy',
            name='settle_seconds',
            field=models.PositiveIntegerField(default=604800, help_text='Settling period before a held share is released.'),
        ),
        migrations.AlterField(
            model_name='ledgeraccount',
            name='kind',
            field=models.CharField(choices=[('treasury', 'treasury (source of every credit)'), ('lab_budget', 'lab budget'), ('annotator', 'annotator payable'), ('payouts_in_flight', 'payouts in flight'), ('paid_out', 'paid out'), ('held', 'held back (pending release)')], max_length=20),
        ),
        migrations.AlterField(
            model_name='ledgertransaction',
            name='kind',
            field=models.CharField(choices=[('budget_credit', 'budget credit'), ('reward', 'reward for a label'), ('clawback', 'clawback of a reward'), ('clawback_reversal', 'clawback reversed on appeal'), ('payout_reserve', 'payout reserved'), ('payout_settle', 'payout settled'), ('payout_return', 'payout returned'), ('payout_lost', 'payout lost with its chain'), ('holdback_release', 'held reward released'), ('holdback_forfeit', 'held reward forfeited'), ('reward_adjustment', 'reward adjusted after a consensus revision')], max_length=20),
        ),
        migrations.AddConstraint(
            model_name='ledgeraccount',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('expert__isnull', True), ('kind', 'treasury'), ('lab__isnull', True)), models.Q(('expert__isnull', True), ('kind', 'lab_budget'), ('lab__isnull', False)), models.Q(('expert__isnull', False), ('kind__in', ['annotator', 'payouts_in_flight', 'paid_out', 'held']), ('lab__isnull', True)), _connector='OR'), name='ledger_account_owner_matches_kind'),
        ),
    ]

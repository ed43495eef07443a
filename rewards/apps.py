from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Rewards"

    def ready(self) -> None:
        # The only two couplings with annotate, both made from here so that annotate never
        # imports rewards: the item_finalized hook and the queue's budget gate.
        from annotate.gates import gate_register
        from annotate.signals import item_finalized
        from rewards.receivers import on_item_finalized
        from rewards.selectors import BUDGET_EXHAUSTED, budget_gate

        item_finalized.connect(on_item_finalized, dispatch_uid="rewards.item_finalized")
        gate_register(BUDGET_EXHAUSTED, budget_gate)

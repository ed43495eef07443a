from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Rewards"

    def ready(self) -> None:
        # The only couplings with annotate, all made from here so that annotate never imports
        # rewards: the item_finalized, suspension_reinstated and group_cleared hooks and the
        # queue's budget gate.
        from annotate.gates import gate_register
        from annotate.signals import group_cleared, item_finalized, suspension_reinstated
        from rewards.receivers import on_group_cleared, on_item_finalized, on_suspension_reinstated
        from rewards.selectors import BUDGET_EXHAUSTED, budget_gate, budget_lease_guard

        item_finalized.connect(on_item_finalized, dispatch_uid="rewards.item_finalized")
        suspension_reinstated.connect(on_suspension_reinstated, dispatch_uid="rewards.suspension_reinstated")
        group_cleared.connect(on_group_cleared, dispatch_uid="rewards.group_cleared")
        gate_register(
            BUDGET_EXHAUSTED,
            budget_gate,
            messages={
                BUDGET_EXHAUSTED: "This project's budget cannot pay for more labels right now. "
                "Label in another project, or check again later: the lab may add to it."
            },
            lease_guard=budget_lease_guard,
            per_project=True,
        )

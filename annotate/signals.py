"""The signals ``annotate`` sends; ``rewards`` (and anything else downstream) listens here
instead of being imported by ``annotate``.

- ``item_finalized``: an item's consensus is final. Sent after the transaction that finalised
  the item commits, with ``item_id`` (the item's primary key) and ``project_id``; receivers
  re-read what they need. The items one transaction finalised are sent one after another inside
  a transaction of their own, so that a receiver can leave its work to that transaction's
  commit and do it once for all of them (annotate/finalize.py).
- ``suspension_reinstated``: staff reinstated a suspended expert on appeal. Sent inside the
  decision's transaction (receivers' writes commit or roll back with it), with
  ``suspension_id``, ``label_ids`` (the expert's labels that suspension excluded on items that
  were final by then: they stay out of the delivered consensus, but the work is paid) and
  ``actor``.
- ``group_cleared``: staff cleared a suspected group of annotators (annotate/quality/groups.py),
  whose members' rewards were held. Sent inside the decision's transaction, with ``group_id``,
  ``item_ids`` (the final items the members labelled: their rewards are now due) and ``actor``.
"""

from django.dispatch import Signal

item_finalized = Signal()
suspension_reinstated = Signal()
group_cleared = Signal()

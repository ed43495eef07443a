"""The one signal ``annotate`` sends: an item's consensus is final.

``rewards`` (and anything else downstream) listens here instead of being imported by
``annotate``. It is sent after the transaction that finalised the item commits, with
``item_id`` (the item's primary key) and ``project_id``; receivers re-read what they need.
"""

from django.dispatch import Signal

item_finalized = Signal()

"""Quality: agreement, consensus, gold audits, integrity signals and annotator reputation.

The statistical core (``agreement``, ``aggregation``, ``integrity``, ``stats``) is pure functions over
plain records and numpy arrays, with no Django models, so that it is testable against published
values and fast enough for a full recompute; the services around it read and write the models.
"""

"""Four eyes: nobody decides on their own case, and money moves on two people's word.

Every trust decision names its rule when it refuses, with 403 and the rule as the error code:

| code                        | refused                                                        |
| --------------------------- | -------------------------------------------------------------- |
| ``four_eyes_own_credential`` | a reviewer approving, rejecting or revoking their own credential |
| ``four_eyes_own_suspension`` | staff deciding on (the appeal of) their own suspension         |
| ``four_eyes_own_labels``     | adjudicating an item one has labelled                          |
| ``four_eyes_same_person``    | approving a budget credit or payout run one asked for oneself  |

A refusal rolls back with the action it refused, so it is not an audit row; it is logged on
the ``rlhf.security`` logger with the actor and the object.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any, NoReturn

from rlhf_platform.core.exceptions import ApplicationError

security_log = logging.getLogger("rlhf.security")


class FourEyesRule(StrEnum):
    OWN_CREDENTIAL = "four_eyes_own_credential"
    OWN_SUSPENSION = "four_eyes_own_suspension"
    OWN_GROUP = "four_eyes_own_group"
    OWN_LABELS = "four_eyes_own_labels"
    SAME_PERSON = "four_eyes_same_person"


class FourEyesError(ApplicationError):
    """A decision refused because the person deciding is the person it is about."""

    def __init__(self, rule: FourEyesRule, message: str) -> None:
        super().__init__(message, code=rule.value, status_code=403)
        self.rule = rule


def four_eyes_refuse(*, rule: FourEyesRule, actor: Any, target: Any, message: str) -> NoReturn:
    security_log.warning(
        "four eyes: %s refused to %s on %s %s",
        rule.value,
        getattr(actor, "pk", None),
        type(target).__name__,
        getattr(target, "pk", None),
    )
    raise FourEyesError(rule, message)


def same_person(actor: Any, user_id: Any) -> bool:
    """Whether ``actor`` (a user) is the person ``user_id`` names (None names nobody)."""
    actor_id = getattr(actor, "pk", None)
    return actor_id is not None and user_id is not None and str(actor_id) == str(user_id)

"""The authentication backend: Django's ModelBackend, loading the expert profile with the user.

Every session-authenticated request loads its user; most of them (the labelling API above
all) then need the expert profile too. Reading both in one query (a LEFT JOIN through the
reverse one-to-one) saves a database round trip on every request: ``user.expert_profile`` is
then cached, and raises ``ExpertProfile.DoesNotExist`` without a query when there is none.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class PlatformBackend(ModelBackend):
    def get_user(self, user_id):
        user = get_user_model()._default_manager.select_related("expert_profile").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None

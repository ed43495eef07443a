from celery import shared_task

from rlhf_platform.experts.services import credentials_expire


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def credentials_expire_task() -> int:
    return credentials_expire()

"""Task queue names: workflows and general activities, email sends, and campaign batches."""

MAIN = "nurture"
# Email sends get their own queue so provider rate limits are enforced in one place.
EMAIL = "nurture-email"


def campaign_batches(email_task_queue: str) -> str:
    """The queue of campaign batches beside an email queue.

    A batch renders and records 500 emails: seconds of CPU under one process's GIL. On a queue
    of their own, each worker process takes only a few at once, so the batches of a campaign
    spread over every worker process instead of piling onto the first to poll, and a campaign
    never takes the email queue's slots from transactional sends.
    """
    return f"{email_task_queue}-campaign-batches"

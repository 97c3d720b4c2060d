"""Settings for one test's own stack: the local Postmark server and task queues of its own."""

import uuid
from typing import Any

from nurture.postmark_server import RunningServer
from nurture.settings import Settings


def isolated(settings: Settings, postmark: RunningServer, **changes: Any) -> Settings:
    """These settings sending to `postmark`, on fresh task queues, with `changes` on top.

    Fresh queues keep a test's workers from taking another test's tasks on a shared server.
    """
    run = uuid.uuid4().hex[:8]
    return settings.model_copy(
        update={
            "postmark_api_url": postmark.url + "/",
            "postmark_server_token": postmark.server_token,
            "task_queue": f"test-{run}",
            "email_task_queue": f"test-email-{run}",
            **changes,
        }
    )

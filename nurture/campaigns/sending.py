"""What a campaign workflow and its activities pass each other: plans, batches, counts, progress.

Pure pydantic (no database models), so the workflow sandbox can pass it through.
"""

from datetime import datetime

from pydantic import BaseModel, Field

# Postmark takes at most 500 messages in one batch call.
MAX_BATCH = 500


class Wave(BaseModel):
    """Recipients at positions [first, end), due at `send_at`: their wall-clock time in their zone."""

    send_at: datetime
    first: int
    end: int


class CampaignPlan(BaseModel):
    """The fixed audience's size and how it is cut: an A/B sample first, then the rest; or, sent in
    each contact's time zone, one wave per moment the recipients are due."""

    recipients: int
    # Positions [0, sample) get the A/B variants; 0 without a test.
    sample: int = 0
    variants: int = 0
    # How long to wait after the sample before choosing the winner, in seconds.
    wait_seconds: float = 0
    # Emails per minute at most, or None.
    send_rate: int | None = None
    # In each contact's time zone: a few waves (one per distinct moment), in order; else empty.
    waves: list[Wave] = Field(default_factory=list)


class CampaignBatch(BaseModel):
    """Recipients at positions [first, end) of a campaign."""

    campaign_id: int
    first: int
    end: int
    workflow_id: str | None = None
    # Set once the batch has failed for good (a day of retries): close its recipients' keys
    # instead of sending (sent if Postmark has them, else failed), giving this reason.
    give_up: str | None = None


class BatchCounts(BaseModel):
    """What became of a batch's recipients (or of all of them so far)."""

    sent: int = 0
    suppressed: int = 0
    failed: int = 0

    def add(self, other: "BatchCounts") -> None:
        """Count another batch in."""
        self.sent += other.sent
        self.suppressed += other.suppressed
        self.failed += other.failed

    @property
    def done(self) -> int:
        """Recipients finished, whatever became of them."""
        return self.sent + self.suppressed + self.failed


class CampaignState(BaseModel):
    """A campaign run's state, carried across continue-as-new."""

    plan: CampaignPlan | None = None
    # The first position not yet handed to a batch.
    next_position: int = 0
    counts: BatchCounts = Field(default_factory=BatchCounts)
    winner: int | None = None
    paused: bool = False
    cancelled: bool = False
    started_at: datetime | None = None
    # Batches that failed for a day and were closed (their recipients failed, or sent after all).
    batches_given_up: int = 0


class CampaignInput(BaseModel):
    """Start (or carry on) campaign `campaign_id`; `scheduled_at` holds the start until then."""

    campaign_id: int
    email_task_queue: str
    # Runs started before batches had a queue of their own (and their in-flight setting) send
    # them on the email queue, four at a time.
    batch_task_queue: str | None = None
    in_flight: int = 4
    scheduled_at: datetime | None = None
    state: CampaignState | None = None


class CampaignFinish(BaseModel):
    """How a campaign run ended, for its row."""

    campaign_id: int
    status: str
    counts: BatchCounts
    reason: str | None = None


class CampaignProgress(BaseModel):
    """The `progress` query: where a sending campaign is, for the API, the CLI and the UI."""

    status: str
    recipients: int | None
    handed_out: int
    counts: BatchCounts
    winner: int | None

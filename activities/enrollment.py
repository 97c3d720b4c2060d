"""EnrollmentActivities: page an audience's contact ids from the database and enroll them in batches."""

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.service import RPCError, RPCStatusCode

from nurture.automations.bulk import Audience, BatchRequest, BatchResult, PageRequest, refusal_category
from nurture.automations.enroll import Enrollment, enroll_many
from nurture.crud.contacts import filter_contacts
from nurture.db.models import Contact, ContactStatus, ListSubscription, SubscriptionStatus
from nurture.settings import Settings

# Temporal answers these when it is (briefly) unavailable: retry the batch rather than count failures.
_TRANSIENT = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
}


def audience_query(audience: Audience) -> Select[int]:
    """Contact ids of an audience, in id order."""
    query = filter_contacts(
        status=ContactStatus(audience.status) if audience.status else None,
        tag=audience.tag,
        list_id=audience.list_id,
        search=audience.q,
    )
    if audience.subscribed_to is not None:
        members = select(ListSubscription.contact_id).where(
            ListSubscription.list_id == audience.subscribed_to,
            ListSubscription.status == SubscriptionStatus.SUBSCRIBED,
        )
        query = query.where(Contact.id.in_(members))
    return query.with_only_columns(Contact.id).order_by(Contact.id)


def _transient(error: BaseException) -> bool:
    if isinstance(error, RPCError):
        return error.status in _TRANSIENT
    return isinstance(error, OperationalError)


def _chunks(ids: Sequence[int], size: int) -> list[Sequence[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


class EnrollmentActivities:
    """Activities of bulk enrollments; built once per worker around the database."""

    def __init__(self, *, sessions: sessionmaker[Session], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings

    @activity.defn(name="enrollment_page")
    def enrollment_page(self, request: PageRequest) -> list[int]:
        """The next `limit` contact ids of the audience after `after_id`, in id order."""
        query = audience_query(request.audience).limit(request.limit)
        if request.after_id is not None:
            query = query.where(Contact.id > request.after_id)
        with self._sessions() as session:
            return list(session.scalars(query))

    @activity.defn(name="enroll_contacts")
    async def enroll_contacts(self, request: BatchRequest) -> BatchResult:
        """Enroll a page of contacts, `concurrency` at a time; counts started, refused and failed.

        Progress is heartbeated after every chunk, so a retried attempt carries on where the last
        one stopped instead of counting its own earlier starts as refusals. A contact whose start
        fails for good is counted as failed; Temporal or the database being unavailable fails the
        attempt, to be retried.
        """
        details = activity.info().heartbeat_details
        result = BatchResult.model_validate(details[0]) if details else BatchResult()
        client = activity.client()
        for chunk in _chunks(request.contact_ids[result.done :], max(1, request.concurrency)):
            # One transaction plans the whole chunk; its runs then start together.
            outcomes = await enroll_many(
                client,
                self._sessions,
                self._settings,
                automation_id=request.automation_id,
                contact_ids=chunk,
                index=request.index,
            )
            transient = [o for o in outcomes if isinstance(o, BaseException) and _transient(o)]
            if transient:
                # Contacts of this chunk that did start are refused by their entry rule on retry.
                raise transient[0]
            for contact_id, outcome in zip(chunk, outcomes, strict=True):
                result.add(_counted(contact_id, outcome))
            result.done += len(chunk)
            activity.heartbeat(result)
        return result


def _counted(contact_id: int, outcome: Enrollment | BaseException) -> BatchResult:
    if isinstance(outcome, BaseException):
        activity.logger.warning("Enrolling contact %s failed: %s", contact_id, outcome)
        return BatchResult(failed=1, errors=[f"contact {contact_id}: {outcome}"])
    if outcome.started:
        return BatchResult(started=1)
    return BatchResult(refused={refusal_category(outcome.reason): 1})

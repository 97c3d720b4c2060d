"""Every table of the application database; importing this registers them all on Base."""

from nurture.db.models.activity import ActivityEvent
from nurture.db.models.api_keys import ApiKey
from nurture.db.models.attachments import StagedAttachment
from nurture.db.models.automations import (
    Automation,
    AutomationRun,
    AutomationStatus,
    AutomationVersion,
    ContactEvent,
    RunStatus,
    StepEntry,
)
from nurture.db.models.campaigns import Campaign, CampaignRecipient, CampaignStatus, RecipientStatus
from nurture.db.models.companies import Account, Deal, DealContact
from nurture.db.models.contacts import Contact, ContactStatus, ContactTag, Tag
from nurture.db.models.lists import ListSubscription, MailingList, SubscriptionStatus
from nurture.db.models.mailboxes import Mailbox
from nurture.db.models.messages import (
    EngagementType,
    Message,
    MessageBody,
    MessageEvent,
    MessageLink,
    MessageStatus,
)
from nurture.db.models.suppressions import Reactivation, Suppression, SuppressionReason
from nurture.db.models.templates import Partial, Template, TemplateKind
from nurture.db.models.users import User

__all__ = [
    "Account",
    "ActivityEvent",
    "ApiKey",
    "Automation",
    "AutomationRun",
    "AutomationStatus",
    "AutomationVersion",
    "Campaign",
    "CampaignRecipient",
    "CampaignStatus",
    "Contact",
    "ContactStatus",
    "ContactEvent",
    "ContactTag",
    "Deal",
    "DealContact",
    "EngagementType",
    "ListSubscription",
    "Mailbox",
    "MailingList",
    "Message",
    "MessageBody",
    "MessageEvent",
    "MessageLink",
    "MessageStatus",
    "Partial",
    "Reactivation",
    "RecipientStatus",
    "StagedAttachment",
    "RunStatus",
    "StepEntry",
    "SubscriptionStatus",
    "Suppression",
    "SuppressionReason",
    "Tag",
    "Template",
    "TemplateKind",
    "User",
]

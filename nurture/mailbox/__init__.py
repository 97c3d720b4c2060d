"""Connected mailboxes: a user's own SMTP and IMAP account, checked, sealed at rest, synced for replies."""

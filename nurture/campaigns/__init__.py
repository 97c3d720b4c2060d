"""Campaigns: who a campaign goes to, how its sending is planned, and what it shows while it runs."""

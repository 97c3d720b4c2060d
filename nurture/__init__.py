"""Nurture: self-hosted marketing automation on Temporal."""

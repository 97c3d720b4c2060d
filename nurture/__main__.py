"""`python -m nurture` runs the command line."""

from nurture.cli.main import app

app()

"""`python -m nurture` runs the command line."""

from nurture.cli.exit import run_and_exit
from nurture.cli.main import app

run_and_exit(app)

"""The command line keeps its exit code, and its output, when it leaves without teardown."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("ending", "code", "stderr"),
    [
        ("sys.exit(0)", 0, ""),
        ("sys.exit(3)", 3, ""),
        ("sys.exit('refused: why')", 1, "refused: why"),
        ("1/0", 1, "ZeroDivisionError"),
    ],
)
def test_the_exit_code_and_output_survive(ending: str, code: int, stderr: str) -> None:
    script = (
        "import sys\n"
        "from nurture.cli.exit import run_and_exit\n"
        "def cli():\n"
        "    print('done', end='')\n"
        f"    {ending}\n"
        "run_and_exit(cli)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (code, "done")
    assert stderr in result.stderr


def test_an_unknown_command_still_says_so_with_click_s_code() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nurture", "bogus"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "No such command 'bogus'" in result.stderr

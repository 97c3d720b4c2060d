"""What a fault run found, as data: each check with whether it held, and the fault's verdict."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Check:
    """One property checked after a fault: its name, whether it held, and what was seen."""

    name: str
    passed: bool
    detail: str = ""


def check(name: str, passed: bool, detail: str = "") -> Check:
    """A check; `detail` says what was seen, pass or fail."""
    return Check(name, bool(passed), detail)


@dataclass
class FaultResult:
    """One fault's run: what was done (`setup`, `timeline`), its checks, and how it ended.

    A fault that could not run at all says why in `skipped`; one that broke off with an exception
    says so in `error`, with the checks made before it.
    """

    number: int
    title: str
    setup: str = ""
    checks: list[Check] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float | None = None
    error: str | None = None
    skipped: str | None = None

    @property
    def passed(self) -> bool | None:
        """True when every check held; None when skipped; False otherwise (no checks is a failure)."""
        if self.skipped is not None:
            return None
        return self.error is None and bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def verdict(self) -> str:
        """The verdict: pass, FAIL or skipped."""
        return {True: "pass", False: "FAIL", None: "skipped"}[self.passed]

    def failures(self) -> list[str]:
        """Each failed check (and the error) in one line: what a failing test prints."""
        lines = [
            f"fault {self.number} ({self.title}): {c.name}: {c.detail}" for c in self.checks if not c.passed
        ]
        if self.error is not None:
            lines.append(f"fault {self.number} ({self.title}) broke off: {self.error}")
        if not self.checks and self.error is None and self.skipped is None:
            lines.append(f"fault {self.number} ({self.title}) made no checks")
        return lines

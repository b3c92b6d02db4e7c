"""Exit codes and the error every verb raises for a problem the user can fix."""

from __future__ import annotations

from typing import Final

import click

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
"""`wait` (and `run --wait`, `trigger --wait`): a TaskJob failed."""
EXIT_TIMEOUT: Final = 2
"""`wait`: `--timeout` passed before every TaskJob finished."""
EXIT_DELETED: Final = 3
"""`wait`: a TaskJob was deleted while waited for."""
EXIT_ERROR: Final = 4
"""Any error of the command itself (bad flags, object not found, API refused or
unreachable). kubectl exits 1 for those; taskops keeps 1-3 for the verdicts of
`wait`, so a script can tell a failed job from a failed command."""


class CliError(click.ClickException):
    """An error printed on stderr as ``error: <message>``; exit EXIT_ERROR.

    ``transient``: the API server was unreachable or answered 429/5xx, so the same
    request may succeed later (a verb that follows objects keeps trying). ``status``:
    its HTTP status (`wait` polls where a 403 refuses it the watch).
    """

    exit_code = EXIT_ERROR

    def __init__(self, message: str, transient: bool = False,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        #: The HTTP status the API server answered, if it answered.
        self.status = status

    def format_message(self) -> str:
        return self.message

    def show(self, file: object = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)

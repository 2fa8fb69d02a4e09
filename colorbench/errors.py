"""The one exception type for a user's mistake: the CLI prints it as one line."""


class UserError(Exception):
    """Something the user can fix; `exit_code` 2 for usage errors, 1 for failures."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class UsageError(UserError):
    """A wrong name or flag: exit status 2, as for any command-line usage error."""

    def __init__(self, message: str):
        super().__init__(message, exit_code=2)


def unknown_name(kind: str, name: str, known) -> UsageError:
    """'unknown plugin 'unet_cga'; did you mean unet_cgan?' with the closest known names."""
    import difflib

    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(known)}"
    return UsageError(f"unknown {kind} {name!r}; {hint}")

"""The one shape of "this input cannot be used": every mistake as field, problem and fix."""

from __future__ import annotations


class ProblemsError(ValueError):
    """An input that cannot be used; ``problems`` lists ``field``, ``problem`` and ``fix`` for
    each mistake, so a person can correct all of them in one go. ``where`` (a file, a config
    source) prefixes the message when given."""

    def __init__(self, problems: list[dict], where: str = ""):
        self.problems = problems
        text = "; ".join(f"{p['field']}: {p['problem']} (fix: {p['fix']})" for p in problems)
        super().__init__(f"{where}: {text}" if where else text)

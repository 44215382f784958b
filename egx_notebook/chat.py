"""A conversation with the model about one raster: each ask carries the history."""

from __future__ import annotations

from typing import Any

__all__ = ["Chat"]


class Chat:
    """A conversation about one raster (``da.egx.chat()``).

    Each :meth:`ask` sends the earlier (question, answer) pairs to the
    processor's chat template, so follow-ups like "and the one to its left?"
    have context. Visual prompts belong to the turn they are given with.

    Attributes
    ----------
    history : list of (str, str)
        The (question, answer text) pairs so far.
    answers : list of Answer
    """

    def __init__(self, accessor: Any) -> None:
        self._accessor = accessor
        self.history: list[tuple[str, str]] = []
        self.answers: list[Any] = []

    def ask(self, question: str, **kwargs: Any):
        """Ask the next question (same keywords as ``da.egx.ask``) and return its Answer."""
        ans = self._accessor.ask(question, history=list(self.history), **kwargs)
        self.history.append((ans.question or question, ans.text))
        self.answers.append(ans)
        return ans

    def reset(self) -> None:
        """Forget the conversation."""
        self.history.clear()
        self.answers.clear()

    def __len__(self) -> int:
        return len(self.history)

    def __repr__(self) -> str:
        return f"<Chat with {len(self.history)} turns>"

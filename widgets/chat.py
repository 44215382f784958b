"""The chat panel beside the map (ipywidgets).

The panel knows nothing about rasters or models: it collects a task and a
question, calls ``handler(task, question)``, shows a progress indicator while
the handler runs, appends the returned text to the conversation, and shows any
exception as a styled message in the panel (never a traceback over the map).
"""

from __future__ import annotations

import html
from typing import Callable

import ipywidgets as W

__all__ = ["ChatPanel", "MIN_SCORES", "TASKS"]

#: Task buttons beside "Ask", in display order.
TASKS = ("refer", "ground", "segment", "caption")

#: Choices of the "min score" dropdown besides the model's own detection threshold.
MIN_SCORES = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# a string, not None: ipywidgets' Dropdown reads a None value as "nothing selected"
_MODEL_THRESHOLD = "model"

_TASK_HELP = {
    "ask": "Ask the question about the drawn regions (or the whole scene)",
    "refer": "What is in the drawn region(s)?",
    "ground": "Find every object the text box names, e.g. 'ship'",
    "segment": "Mask the object in the drawn region(s)",
    "caption": "Describe the whole scene",
}


class ChatPanel(W.VBox):
    """Question box, "Ask" and task buttons, history, progress and errors.

    Parameters
    ----------
    handler : callable
        ``handler(task, question) -> str``: runs the request and returns the
        answer text. Exceptions it raises are shown in the panel.
    targets : list of str, optional
        Choices for "ask about" (the sources of a co-registered stack).

    Attributes
    ----------
    question : ipywidgets.Text
    ask_button : ipywidgets.Button
        Labelled "Ask".
    task_buttons : dict of str -> ipywidgets.Button
    min_score : ipywidgets.Dropdown
        Lowest detection score ``ground`` keeps: "model's" (the checkpoint's own
        threshold) or 0.05 to 0.9; read it as ``panel.ground_min_score``.
    history : ipywidgets.HTML
        The conversation.
    progress : ipywidgets.IntProgress
        Visible while the handler runs.
    error : ipywidgets.HTML
        The last error, styled; empty when the last request worked.
    """

    def __init__(self, handler: Callable[[str, str], str], targets: list[str] | None = None,
                 **kwargs) -> None:
        self.handler = handler
        self.messages: list[tuple[str, str]] = []  # (role, text)
        self.question = W.Text(placeholder="Ask about the drawn regions…",
                               layout=W.Layout(width="100%"))
        self.question.add_class("egx-question")
        self.ask_button = W.Button(description="Ask", button_style="primary",
                                   tooltip=_TASK_HELP["ask"], layout=W.Layout(width="70px"))
        self.ask_button.add_class("egx-ask")
        self.ask_button.on_click(lambda _b: self.submit("ask"))
        self.question.continuous_update = False
        self.task_buttons = {}
        for task in TASKS:
            b = W.Button(description=task, tooltip=_TASK_HELP[task], layout=W.Layout(width="auto"))
            b.add_class(f"egx-task-{task}")
            b.on_click(lambda _b, t=task: self.submit(t))
            self.task_buttons[task] = b
        self.min_score = W.Dropdown(
            options=[("model's", _MODEL_THRESHOLD)] + [(f"{t:.2f}", t) for t in MIN_SCORES],
            value=_MODEL_THRESHOLD, description="min score",
            tooltip="lowest detection score 'ground' keeps (model's: the checkpoint's own threshold for the class)",
            layout=W.Layout(width="200px"), style={"description_width": "70px"})
        self.min_score.add_class("egx-min-score")
        self.target = W.Dropdown(options=targets or [], description="ask about",
                                 layout=W.Layout(display="flex" if targets and len(targets) > 1 else "none"))
        self.prompts_info = W.HTML("<i>No regions drawn: questions are about the whole scene.</i>")
        self.prompts_info.add_class("egx-prompts")
        self.clear_button = W.Button(description="clear regions", layout=W.Layout(width="auto"))
        self.history = W.HTML("", layout=W.Layout(max_height="320px", overflow="auto"))
        self.history.add_class("egx-history")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="running…", bar_style="info",
                                      layout=W.Layout(visibility="hidden"))
        self.progress.add_class("egx-progress")
        self.error = W.HTML("")
        self.error.add_class("egx-error")
        super().__init__(
            children=[
                W.HTML("<b>Ask the model</b>"),
                self.target,
                W.HBox([self.question, self.ask_button]),
                W.HBox(list(self.task_buttons.values())),
                self.min_score,
                W.HBox([self.prompts_info, self.clear_button]),
                self.progress,
                self.error,
                self.history,
            ],
            layout=kwargs.pop("layout", W.Layout(width="360px", padding="0 0 0 8px")),
            **kwargs,
        )
        self.add_class("egx-chat")

    @property
    def ground_min_score(self) -> float | None:
        """The ``min_score`` for ``ground``: None keeps the model's own threshold."""
        value = self.min_score.value
        return None if value == _MODEL_THRESHOLD else float(value)

    @property
    def busy(self) -> bool:
        """True while a request runs."""
        return self.progress.layout.visibility == "visible"

    def submit(self, task: str) -> str | None:
        """Run ``task`` with the current question; returns the answer text or None on error."""
        if self.busy:
            return None
        question = self.question.value.strip()
        self.show_error("")
        self._set_busy(True)
        try:
            text = self.handler(task, question)
        except Exception as exc:  # shown in the panel: a widget must never dump a traceback
            self.show_error(f"{type(exc).__name__}: {exc}")
            return None
        finally:
            self._set_busy(False)
        self.add_message("you", f"[{task}] {question}" if question else f"[{task}]")
        self.add_message("model", text)
        if task == "ask":
            self.question.value = ""
        return text

    def _set_busy(self, busy: bool) -> None:
        self.progress.layout.visibility = "visible" if busy else "hidden"
        self.progress.value = 0
        for b in [self.ask_button, *self.task_buttons.values()]:
            b.disabled = busy

    def show_error(self, message: str) -> None:
        """Show ``message`` as an error in the panel (empty string clears it)."""
        if not message:
            self.error.value = ""
            return
        self.error.value = (
            '<div class="egx-error-message" style="color:#842029;background:#f8d7da;'
            'border:1px solid #f5c2c7;border-radius:4px;padding:4px 8px;white-space:pre-wrap">'
            f"{html.escape(message)}</div>"
        )

    def add_message(self, role: str, text: str) -> None:
        """Append one message to the conversation."""
        self.messages.append((role, text))
        rows = []
        for r, t in self.messages:
            cls = "egx-msg-user" if r == "you" else "egx-msg-model"
            colour = "#555" if r == "you" else "#0b5394"
            body = html.escape(t) if t.strip() else '<i class="egx-empty">(no text)</i>'
            rows.append(f'<div class="{cls}" style="margin:2px 0;white-space:pre-wrap">'
                        f'<b style="color:{colour}">{html.escape(r)}:</b> {body}</div>')
        self.history.value = "".join(rows)

    def set_prompts(self, labels: list[str], kinds: list[str]) -> None:
        """Show which regions are drawn."""
        if not labels:
            self.prompts_info.value = "<i>No regions drawn: questions are about the whole scene.</i>"
        else:
            self.prompts_info.value = ", ".join(f"{html.escape(lb)} ({html.escape(k)})"
                                                for lb, k in zip(labels, kinds))

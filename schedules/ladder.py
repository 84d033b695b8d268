"""The reminder ladder: which reminder goes to whom, and when.

The ladder is data (configurable in the settings); ``due_reminders`` (the reminders issue) reads it.
Offsets count working days from the unit's due day: -3 is three working days before it.
"""

from __future__ import annotations

from datetime import time

from pydantic import BaseModel, Field, field_validator

AUDIENCES = ("officer", "head", "leader", "coordinator")


class Rung(BaseModel):
    """One step of the ladder."""

    name: str = Field(min_length=1, max_length=32)
    offset: int | None = Field(
        default=None, ge=-30, le=30,
        description="working days from the due day; None = when the task is assigned",
    )
    at: time = time(7, 30)
    to: tuple[str, ...] = ("officer",)

    @field_validator("to")
    @classmethod
    def _known_audience(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [who for who in value if who not in AUDIENCES]
        if unknown or not value:
            raise ValueError(f"audience must be among {', '.join(AUDIENCES)}; got {', '.join(unknown) or 'nothing'}")
        return value


DEFAULT_LADDER: tuple[Rung, ...] = (
    Rung(name="assigned", offset=None, to=("officer", "head")),
    Rung(name="soon", offset=-3, to=("officer",)),
    Rung(name="tomorrow", offset=-1, to=("officer", "head")),
    Rung(name="today", offset=0, to=("officer", "head")),
    Rung(name="overdue", offset=1, to=("officer", "head")),
    Rung(name="escalated", offset=3, to=("leader",)),
)

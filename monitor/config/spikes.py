"""Spike alert settings: the top-level `spikes:` defaults and a watchlist's or entity's `spike:` overrides.

A spike is a surge in the number of distinct stories (and outlets) about a
watchlist or an entity, against a baseline that knows the hour of day and
the day of the week (`core.spikes`). The top-level block gives defaults;
each watchlist (and entity) may override any field in its own `spike:`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.config.durations import Duration, format_duration

HOUR = 3600.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Name = Annotated[str, Field(min_length=1)]


def _whole_hours(seconds: float, key: str) -> None:
    if seconds % HOUR:
        raise ValueError(f"{key} {format_duration(seconds)} must be a whole number of hours")


class SpikeSettings(_Model):
    """Defaults for every watchlist (and, with `entities: true`, every entity)."""

    enabled: bool = True
    # Entities get spike alerts of their own only when this (or their own `spike.enabled`) says so.
    entities: bool = False
    window: Duration = Field(default=3 * HOUR, ge=HOUR, le=48 * HOUR)
    min_stories: int = Field(default=5, ge=1)
    # An alert needs the window's story count to be this unlikely under the
    # baseline: tail probability below 10 ** -sensitivity.
    sensitivity: float = Field(default=4.0, ge=1.0, le=12.0)
    # A follow-up alert once a surge has grown by this factor since its last alert.
    growth: float = Field(default=2.0, gt=1.0, le=100.0)
    # Where spike alerts go; empty: the watchlist's own channels.
    channels: tuple[Name, ...] = ()
    # A series alerts only once its first counted story is this old: before,
    # its usual rhythm is not known (a new watchlist's first busy morning).
    learning: Duration = Field(default=7 * 24 * HOUR, ge=0, le=90 * 24 * HOUR)
    # The dashboard's address as readers reach it (https://monitor.example.org):
    # spike alerts link to the watchlist's chart there. Unset: no link.
    dashboard: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=500)

    @model_validator(mode="after")
    def _hours(self) -> SpikeSettings:
        _whole_hours(self.window, "window")
        return self


class SpikeOverride(_Model):
    """A watchlist's or entity's `spike:` block: any field left out comes from `spikes:`."""

    enabled: bool | None = None
    window: Duration | None = Field(default=None, ge=HOUR, le=48 * HOUR)
    min_stories: int | None = Field(default=None, ge=1)
    sensitivity: float | None = Field(default=None, ge=1.0, le=12.0)
    growth: float | None = Field(default=None, gt=1.0, le=100.0)
    channels: tuple[Name, ...] | None = None

    @model_validator(mode="after")
    def _hours(self) -> SpikeOverride:
        if self.window is not None:
            _whole_hours(self.window, "window")
        return self

    def over(self, defaults: SpikeSettings, *, entity: bool = False) -> SpikeSettings:
        """The settings in force: these overrides on top of `defaults`."""
        fields = {k: v for k, v in self.model_dump(exclude_none=True).items()}
        if "enabled" not in fields and entity:
            fields["enabled"] = defaults.enabled and defaults.entities
        return defaults.model_copy(update=fields)

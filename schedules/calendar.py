"""The working-day calendar: which days the offices work.

Working days are Monday to Friday, minus Vietnam's public holidays (including the
substituted days off that bridge a holiday to a weekend), plus the official make-up
working days (the Saturdays worked in exchange for a bridged day off). All of this
comes from the ``holidays`` package; an office can add the decisions of its own
province with ``extra_holidays`` and ``extra_workdays``.

How the ``holidays`` package is used (verified against holidays 0.108):

* ``country_holidays("VN")`` with no ``years`` builds an empty object; every lookup
  of a date in a year not yet seen populates that year on demand ("expansion"), so
  any year can be asked for and each year is built once.
* Substituted days off and make-up Saturdays are kept as ``special_public_holidays``
  of the country class. A day off goes into the holiday dict under a name such as
  "Ngày nghỉ (thay cho ngày 04/05/2024)"; the Saturday worked in exchange goes into
  ``weekend_workdays`` when its year is populated (swaps across a year boundary
  are put there when the object is built). ``is_working_day`` is
  ``day in weekend_workdays if weekend else day not in holidays``.
* The package knows the Vietnamese swaps of 2010, 2012-2015, 2018/2019, 2024, 2025
  and 2026 (each year's swap is decided by the government, so later years only
  have the rule-based holidays and observed days). It has no holidays at all after
  2100 (``end_year``), where only weekends are days off.
* Holiday names are translated with gettext and, without an explicit ``language``,
  follow the process locale (``LANG=C.UTF-8`` gives English), so the language is
  pinned here.

Overrides are written into the ``holidays`` object itself through its public
attributes and methods (``update``/``pop`` and ``weekend_workdays``), so its own
``is_working_day``, ``get_nth_working_day`` and ``get_working_days_count`` honour
them and nothing of that logic is re-implemented here.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

__all__ = ["WorkCalendar"]

# Name shown for a day off added by the office (extra_holidays given as a plain iterable).
EXTRA_HOLIDAY_NAME = "Ngày nghỉ theo quyết định của địa phương"

# The bot speaks Vietnamese; holiday names are in it whenever the package has it.
_PREFERRED_LANGUAGE = "vi"

# Bound of the per-date memo (about 11 years of days; the tick touches far fewer).
_MEMO_SIZE = 4096

_ONE_DAY = timedelta(days=1)


def _as_day(value: object) -> date:
    """Accept a plain ``date`` only.

    A ``datetime`` is refused on purpose: instants are stored in UTC, and turning one
    into a day must go through the local time zone, which is the caller's business.
    """
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"expected a datetime.date, got {type(value).__name__}")
    return value


class WorkCalendar:
    """Working days of one country, with the office's own additions.

    Thread-safe; years are loaded on first use. Answers are memoised per date in a
    bounded cache, so the reminder tick can ask for thousands of assignments cheaply.
    """

    def __init__(
        self,
        country: str = "VN",
        *,
        extra_holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
    ) -> None:
        """Build the calendar.

        ``extra_holidays`` may also be a mapping of date to name; its names are then
        returned by ``holiday_name``. A date may not be both an extra holiday and an
        extra working day.
        """
        import holidays  # imported here: nothing of this module is built at import time

        # An empty, expanding object: years are populated when first looked up.
        probe = holidays.country_holidays(country)
        self._language = (
            _PREFERRED_LANGUAGE
            if _PREFERRED_LANGUAGE in probe.supported_languages
            else probe.default_language
        )
        self._lock = threading.RLock()
        self.country = country
        self._build(extra_holidays, extra_workdays)

    def set_overrides(
        self, extra_holidays: Iterable[date] | Mapping[date, str] = (), extra_workdays: Iterable[date] = ()
    ) -> None:
        """Replace the office's additions (same rules as the constructor), in place.

        Everyone holding this calendar sees the new days at once; the memos start afresh. Nothing
        changes when the arguments are invalid (ValueError, TypeError).
        """
        self._build(extra_holidays, extra_workdays)

    def _build(self, extra_holidays: Iterable[date] | Mapping[date, str], extra_workdays: Iterable[date]) -> None:
        import holidays

        if isinstance(extra_holidays, Mapping):
            named = {_as_day(day): str(name) for day, name in extra_holidays.items()}
        else:
            named = {_as_day(day): EXTRA_HOLIDAY_NAME for day in extra_holidays}
        workdays = frozenset(_as_day(day) for day in extra_workdays)
        if clash := sorted(workdays & named.keys()):
            listed = ", ".join(day.isoformat() for day in clash)
            raise ValueError(f"dates both in extra_holidays and extra_workdays: {listed}")

        table = holidays.country_holidays(self.country, language=self._language)
        # Overrides go into the holidays object after their year is populated (any
        # lookup of the date populates it), so a later expansion cannot undo them:
        # a year's own entries are only ever added when that year is populated.
        for day, name in named.items():
            table.update({day: name})
            # A make-up Saturday the office does not work (the swap was cancelled).
            table.weekend_workdays.discard(day)
        for day in workdays:
            if day in table:  # also populates the year
                table.pop(day)
            if table.is_weekend(day):
                table.weekend_workdays.add(day)

        with self._lock:
            self._holidays = table
            self.extra_holidays: Mapping[date, str] = dict(named)
            self.extra_workdays: frozenset[date] = workdays
            # Bounded per-instance memos (an lru_cache on the method would be shared by
            # every instance and keep them alive).
            self._memo_is_working_day = functools.lru_cache(maxsize=_MEMO_SIZE)(
                self._compute_is_working_day
            )
            self._memo_add_working_days = functools.lru_cache(maxsize=_MEMO_SIZE)(
                self._compute_add_working_days
            )
            self._memo_between = functools.lru_cache(maxsize=_MEMO_SIZE)(self._compute_working_days_between)

    def __repr__(self) -> str:
        return (
            f"WorkCalendar({self.country!r}, extra_holidays={len(self.extra_holidays)}, "
            f"extra_workdays={len(self.extra_workdays)})"
        )

    @property
    def loaded_years(self) -> frozenset[int]:
        """The years the holiday table has been built for so far."""
        with self._lock:
            return frozenset(self._holidays.years)

    # -- queries ------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """True on Monday-Friday that is not a day off, and on make-up working days."""
        return self._memo_is_working_day(_as_day(day))

    def holiday_name(self, day: date) -> str | None:
        """The name of the public holiday or day off on ``day``, else None.

        A holiday falling on a weekend still has its name; a date the office made a
        working day (``extra_workdays``) has none.
        """
        day = _as_day(day)
        with self._lock:
            return self._holidays.get(day)

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after ``day`` (n > 0) or before it (n < 0).

        ``n == 0`` returns ``day`` itself, working day or not.
        """
        day = _as_day(day)
        if n == 0:
            return day
        return self._memo_add_working_days(day, n)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative (the count in (end, start]) if end < start.

        So ``working_days_between(a, b) == -working_days_between(b, a)``, and for a
        working day ``d``: ``working_days_between(d, add_working_days(d, n)) == n``.
        """
        return self._memo_between(_as_day(start), _as_day(end))

    def _compute_working_days_between(self, start: date, end: date) -> int:
        if start == end:
            return 0
        sign = 1 if start < end else -1
        low, high = min(start, end), max(start, end)
        with self._lock:
            # The library counts the closed range [start, end].
            return sign * self._holidays.get_working_days_count(low + _ONE_DAY, high)

    def next_working_day(self, day: date, *, include_self: bool = True) -> date:
        """The first working day on or after ``day`` (strictly after if not include_self)."""
        day = _as_day(day)
        if include_self and self.is_working_day(day):
            return day
        return self.add_working_days(day, 1)

    def days_off(self, year: int) -> dict[date, str]:
        """Every named day off of ``year`` (holidays, bridged days, the office's own), weekend ones too."""
        with self._lock:
            table = self._holidays
            table.get(date(year, 1, 1))  # populates the year
            return {day: name for day, name in sorted(table.items()) if day.year == year}

    def weekend_workdays(self, year: int) -> list[date]:
        """The Saturdays and Sundays worked in ``year`` (make-up working days)."""
        with self._lock:
            table = self._holidays
            table.get(date(year, 1, 1))
            return sorted(day for day in table.weekend_workdays if day.year == year)

    # -- memoised helpers ---------------------------------------------------------

    def _compute_is_working_day(self, day: date) -> bool:
        with self._lock:
            return self._holidays.is_working_day(day)

    def _compute_add_working_days(self, day: date, n: int) -> date:
        with self._lock:
            return self._holidays.get_nth_working_day(day, n)

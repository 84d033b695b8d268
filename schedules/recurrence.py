"""Recurring tasks: periods (``dateutil.rrule``), their labels, data periods and deadline rules.

A series recurs monthly, quarterly, half-yearly or yearly. Each period is its own task, labelled
("Quý I/2027", "Tháng 3/2027", "6 tháng đầu năm 2027", "Năm 2027"), with its **data period**: the
period itself, or shifted by whole months (seed letter 001: the first-quarter report covers
01/12 of the previous year to 28/02, ``data_offset=-1``). The **deadline rule** is read against the
data period, as the letters write it:

* «ngày 20 tháng cuối quý» — the 20th of the period's last month;
* «trước ngày 01 của tháng đầu quý sau» — before the 1st of the next period's first month, so the end of
  the period's last day (as «trước ngày» reads everywhere: the day before);
* «chậm nhất ngày 05 tháng đầu kỳ sau», «ngày 10 tháng thứ hai của quý», «ngày 25 hằng tháng».

A rule that yields no date in some period («ngày 31 tháng cuối quý»: June has no 31st) is refused when
the series is made. Every function here is pure.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import MONTHLY, rrule

END_OF_DAY = time(23, 59, 59)
ROMAN = ("I", "II", "III", "IV")
CHECK_PERIODS = 24
"""A new rule is checked against this many periods (two years of months, six of quarters)."""


class Frequency(StrEnum):
    monthly = "monthly"
    quarterly = "quarterly"
    half_yearly = "half-yearly"
    yearly = "yearly"

    @property
    def months(self) -> int:
        return {"monthly": 1, "quarterly": 3, "half-yearly": 6, "yearly": 12}[self.value]

    @property
    def label(self) -> str:
        return {"monthly": "hằng tháng", "quarterly": "hằng quý", "half-yearly": "6 tháng một lần",
                "yearly": "hằng năm"}[self.value]


FREQUENCY_WORDS = {
    "monthly": Frequency.monthly, "thang": Frequency.monthly, "hang-thang": Frequency.monthly,
    "quarterly": Frequency.quarterly, "quy": Frequency.quarterly, "hang-quy": Frequency.quarterly,
    "half-yearly": Frequency.half_yearly, "half_yearly": Frequency.half_yearly, "halfyearly": Frequency.half_yearly,
    "6-thang": Frequency.half_yearly, "nua-nam": Frequency.half_yearly,
    "yearly": Frequency.yearly, "annual": Frequency.yearly, "nam": Frequency.yearly, "hang-nam": Frequency.yearly,
}


class RecurrenceError(ValueError):
    """A frequency, period or rule that cannot be used; the message is Vietnamese."""


def _fold(text: str) -> str:
    """Lower case without diacritics (đ → d), spaces collapsed."""
    text = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return re.sub(r"\s+", " ", text).strip()


def parse_frequency(text: str) -> Frequency:
    key = _fold(text).replace(" ", "-")
    if key in FREQUENCY_WORDS:
        return FREQUENCY_WORDS[key]
    raise RecurrenceError(f"Chu kỳ «{text}» không hợp lệ; dùng monthly (hằng tháng), quarterly (hằng quý), "
                          "half-yearly (6 tháng) hoặc yearly (hằng năm).")


def period_start_of(frequency: Frequency, day: date) -> date:
    """The first day of the period containing ``day``."""
    month = (day.month - 1) // frequency.months * frequency.months + 1
    return date(day.year, month, 1)


def period_end(frequency: Frequency, start: date) -> date:
    return start + relativedelta(months=frequency.months) - timedelta(days=1)


def period_label(frequency: Frequency, start: date) -> str:
    if frequency is Frequency.monthly:
        return f"Tháng {start.month}/{start.year}"
    if frequency is Frequency.quarterly:
        return f"Quý {ROMAN[(start.month - 1) // 3]}/{start.year}"
    if frequency is Frequency.half_yearly:
        return f"6 tháng {'đầu' if start.month == 1 else 'cuối'} năm {start.year}"
    return f"Năm {start.year}"


def period_starts(frequency: Frequency, first: date, count: int) -> list[date]:
    """``count`` period starts from ``first`` (itself a period start)."""
    return [moment.date() for moment in rrule(MONTHLY, interval=frequency.months, bymonthday=1, count=count,
                                              dtstart=datetime.combine(first, time()))]


def parse_period(text: str, frequency: Frequency) -> date:
    """The start of the period a person names: «Quý I/2027», «I/2027», «Q1/2027», «Tháng 3/2027», «3/2027»,
    «6 tháng đầu năm 2027», «H2/2027», «Năm 2027», «2027»."""
    folded = _fold(text)
    year_match = re.search(r"(\d{4})\s*$", folded)
    if not year_match:
        raise RecurrenceError(_period_hint(text, frequency))
    year = int(year_match.group(1))
    head = folded[:year_match.start()].strip(" /-")
    head = re.sub(r"^(quy|thang|nam|ky)\s*", "", head).strip()
    try:
        if frequency is Frequency.yearly:
            if head:
                raise ValueError
            return date(year, 1, 1)
        if frequency is Frequency.quarterly:
            head = head.removeprefix("q").strip()
            roman = {r.lower(): i + 1 for i, r in enumerate(ROMAN)}
            quarter = roman.get(head) or (int(head) if head.isdigit() else 0)
            if not 1 <= quarter <= 4:
                raise ValueError
            return date(year, 3 * quarter - 2, 1)
        if frequency is Frequency.half_yearly:
            if head in ("6 thang dau nam", "dau nam", "h1", "1"):
                return date(year, 1, 1)
            if head in ("6 thang cuoi nam", "cuoi nam", "h2", "2"):
                return date(year, 7, 1)
            raise ValueError
        if not head.isdigit() or not 1 <= int(head) <= 12:
            raise ValueError
        return date(year, int(head), 1)
    except ValueError:
        raise RecurrenceError(_period_hint(text, frequency)) from None


def _period_hint(text: str, frequency: Frequency) -> str:
    example = {Frequency.monthly: "«Tháng 3/2027»", Frequency.quarterly: "«Quý I/2027»",
               Frequency.half_yearly: "«6 tháng đầu năm 2027»", Frequency.yearly: "«Năm 2027»"}[frequency]
    return f"Kỳ «{text}» không hiểu được với chu kỳ {frequency.label}; viết ví dụ {example}."


_UNIT = r"(?:quy|ky|nam|6 thang|nua nam|thang)"
_RULE = re.compile(
    rf"^(?P<kind>truoc|cham nhat|han|den|vao)?\s*(?:ngay\s*)?(?P<day>\d{{1,2}})\s*(?:cua\s*)?"
    rf"(?:(?:hang|hang) thang|thang\s*(?P<which>dau|cuoi|thu\s*(?:\d|hai|ba|tu|nam|sau))?\s*(?:cua\s*)?"
    rf"(?:{_UNIT})?\s*(?P<next>sau|tiep theo|ke tiep|nay)?)\s*$")
_ORDINALS = {"hai": 2, "ba": 3, "tu": 4, "nam": 5, "sau": 6}


@dataclass(frozen=True)
class DeadlineRule:
    text: str
    day: int
    before: bool
    month_index: int | None
    """0-based month of the period (None: the last); ignored for monthly series."""
    next_period: bool
    every_month: bool = False
    """Written «hằng tháng»: only a monthly series can use it."""

    def due_day(self, frequency: Frequency, data_start: date) -> date | None:
        """The due day for the data period starting ``data_start``; None when the month has no such day."""
        start = data_start + relativedelta(months=frequency.months) if self.next_period else data_start
        if frequency is Frequency.monthly:
            month = start
        else:
            index = frequency.months - 1 if self.month_index is None else self.month_index
            if index >= frequency.months:
                return None
            month = start + relativedelta(months=index)
        found = list(rrule(MONTHLY, dtstart=datetime.combine(month, time()), bymonthday=self.day,
                           until=datetime.combine(month + relativedelta(months=1) - timedelta(days=1), time())))
        if not found:
            return None
        day = found[0].date()
        return day - timedelta(days=1) if self.before else day


def parse_rule(text: str) -> DeadlineRule:
    folded = _fold(text).replace(",", " ")
    folded = re.sub(r"\s+", " ", folded)
    match = _RULE.match(folded)
    if not match:
        raise RecurrenceError(
            f"Quy tắc hạn «{text}» không hiểu được. Viết ví dụ «ngày 20 tháng cuối quý», "
            "«trước ngày 01 của tháng đầu quý sau» hoặc «ngày 25 hằng tháng».")
    which = match.group("which")
    if which is None or which == "cuoi":
        index = None
    elif which == "dau":
        index = 0
    else:
        word = which.removeprefix("thu").strip()
        index = (int(word) if word.isdigit() else _ORDINALS[word]) - 1
    next_period = match.group("next") in ("sau", "tiep theo", "ke tiep")
    if which is None and not next_period and "thang" not in folded:
        raise RecurrenceError(f"Quy tắc hạn «{text}» thiếu tháng; ví dụ «ngày 20 tháng cuối quý».")
    day = int(match.group("day"))
    if not 1 <= day <= 31:
        raise RecurrenceError(f"Quy tắc hạn «{text}»: ngày {day} không có trong tháng nào.")
    return DeadlineRule(text=text.strip(), day=day, before=match.group("kind") == "truoc",
                        month_index=index, next_period=next_period, every_month=bool(re.search(r"\bhang thang\b", folded)))


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    label: str
    data_start: date
    data_end: date
    due_day: date
    due_at: datetime
    phrase: str
    opens_at: datetime


def make_period(frequency: Frequency, start: date, rule: DeadlineRule, data_offset: int, tz: ZoneInfo) -> Period:
    data_start = start + relativedelta(months=data_offset)
    due = rule.due_day(frequency, data_start)
    label = period_label(frequency, start)
    if due is None:
        raise RecurrenceError(f"Quy tắc hạn «{rule.text}» không cho ra ngày nào ở kỳ {label} "
                              "(tháng đó không có ngày này).")
    day_text = (due + timedelta(days=1) if rule.before else due).strftime("%d/%m/%Y")
    phrase = f"{'trước' if rule.before else 'chậm nhất'} ngày {day_text} ({rule.text})"
    return Period(start=start, end=period_end(frequency, start), label=label, data_start=data_start,
                  data_end=period_end(frequency, data_start), due_day=due,
                  due_at=datetime.combine(due, END_OF_DAY, tz), phrase=phrase[:255],
                  opens_at=datetime.combine(data_start, time(), tz))


def check_rule(frequency: Frequency, first: date, rule: DeadlineRule, data_offset: int, tz: ZoneInfo) -> list[Period]:
    """The first periods of a new series; RecurrenceError when the rule fails in any of them."""
    if rule.every_month and frequency is not Frequency.monthly:
        raise RecurrenceError(f"Quy tắc hạn «{rule.text}» là hằng tháng, không dùng được cho chu kỳ {frequency.label}; "
                              "viết ví dụ «ngày 20 tháng cuối quý».")
    if not -12 <= data_offset <= 12:
        raise RecurrenceError("Kỳ số liệu chỉ lệch tối đa 12 tháng so với kỳ báo cáo.")
    periods = [make_period(frequency, start, rule, data_offset, tz)
               for start in period_starts(frequency, first, CHECK_PERIODS)]
    if periods[0].due_at < periods[0].opens_at:
        raise RecurrenceError(f"Quy tắc hạn «{rule.text}» cho hạn trước khi kỳ số liệu bắt đầu.")
    return periods


# --- letters that describe a recurring report -----------------------------------------------------

_REPORT = r"bao cao (?:\S+ ){0,8}"
"""A frequency counts only as a report's: «định kỳ hằng quý», «báo cáo … hằng quý» (not «kế hoạch hằng năm»)."""
_RECURRING = (
    (Frequency.half_yearly, re.compile(rf"\b(?:dinh ky (?:hang |moi )?(?:6|sau) thang|dinh ky nua nam|"
                                       rf"{_REPORT}(?:hang |moi )?(?:6|sau) thang(?: (?:dau|cuoi) nam)?)\b")),
    (Frequency.quarterly, re.compile(rf"\b(?:dinh ky (?:hang |moi )?quy|{_REPORT}(?:(?:hang|moi) quy|"
                                     rf"quy (?:i|ii|iii|iv|[1-4])))\b")),
    (Frequency.monthly, re.compile(rf"\b(?:dinh ky (?:hang |moi )?thang|{_REPORT}(?:hang|moi) thang)\b")),
    (Frequency.yearly, re.compile(rf"\b(?:dinh ky (?:hang |moi )?nam|{_REPORT}(?:hang|moi) nam)\b")),
)
_QUARTER = re.compile(r"\bquy (i|ii|iii|iv|[1-4])\b(?: nam)? (\d{4})")


@dataclass(frozen=True)
class RecurrenceHint:
    frequency: Frequency
    period: str | None
    """The period the letter names («Quý I/2024»), when it names one."""


def detect_recurrence(text: str) -> RecurrenceHint | None:
    """A letter that asks for a report every month / quarter / half-year / year (the first such phrase wins,
    half-yearly before monthly so «6 tháng» is not read as «tháng»)."""
    folded = _fold(text)
    found = [(match.start(), frequency) for frequency, pattern in _RECURRING
             if (match := pattern.search(folded)) is not None]
    if not found:
        return None
    frequency = min(found, key=lambda item: item[0])[1]
    period = None
    if frequency is Frequency.quarterly and (match := _QUARTER.search(folded)):
        roman = match.group(1)
        number = int(roman) if roman.isdigit() else ROMAN.index(roman.upper()) + 1
        period = f"Quý {ROMAN[number - 1]}/{match.group(2)}"
    return RecurrenceHint(frequency, period)

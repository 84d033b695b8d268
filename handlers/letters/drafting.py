"""Drafting tasks: the letter's parts and deadlines become proposed tasks (``extract_letter``).

- Every deadline phrase anywhere in the body is one task, and one per lead unit when a span names
  several leads (spans: ``handlers.letters.deadlines``). The task's units, lead, templates, signature
  and title come from its span.
- Units, in order of preference: the units named in the span in the place of a subject ("Phòng A,
  Phòng B báo cáo …", "Giao Phòng A chủ trì", "Đề nghị …", "Riêng Phòng A …", "giữa Thủ trưởng các cơ
  quan, đơn vị …"); then those named before the span in its paragraph; then the sub-heading (``a)``)
  and the item's heading ("4. Phòng Kinh tế và Hạ tầng"); then the lead-in before the first item when
  it names who must act ("… đề nghị UBND các huyện, thị xã, thành phố:"); then the letter's
  recipients. Roles are read in ``handlers.letters.units``: the unit that asks ("Phòng A đề nghị …"),
  the issuing body (kind ``office``) and units after "qua", "của", "tham mưu" … are not assignees.
- Generic words alone ("các cơ quan, đơn vị", "các sở, ban, ngành") mean the units the letter is
  addressed to ("Kính gửi"): those of the word's groups among them, else all of them; when none of the
  recipients is in the roster, the task has no units and lists the recipients as unmatched, for the
  coordinator to map. Without "Kính gửi", the word's groups.
- The office a report is sent to ("gửi về Phòng Nội vụ", "nộp về …", "gửi về: …") collects and is
  never an assignee, even as a member of a group, unless the span names it as one. An office behind
  "qua" after the issuing body ("gửi về UBND huyện (qua phòng Nội vụ)") is a mailbox: as a member of a
  group it still reports (seed letter 000).
- Lead: "Giao <unit> chủ trì" / "<unit> chủ trì"; a span that starts with "Chủ trì" under a heading
  naming one unit; a span whose subject is one named unit ("Giao Phòng A báo cáo …", "Phòng A hướng dẫn
  …; báo cáo … hạn chót ngày …"). With a lead the task goes to the lead alone (the lead reports). Units
  after "phối hợp (với)" are coordinating, except "các cơ quan, đơn vị có liên quan", which names no one.
- A letter-wide deadline section: an item headed by a time word ("4. Thời gian gửi báo cáo", "Thời
  hạn …") whose deadline names no unit, or only the generic "các cơ quan, đơn vị", sets the date of
  every report the letter asks for: its task goes to all the recipients and takes the subject as
  title (letter 001: the departments it addresses and the communes). The other items of such a letter
  describe what to report and give no tasks of their own.
- Without a deadline: a numbered item with no deadline (or a sub-item with no deadline whose item's
  lead-in has none either) that names who must act (in itself, its heading, or the letter's lead-in)
  is kept as a task with ``due_at=None`` and a ``problem`` ("chưa có hạn"), so nothing assigned is
  silently dropped. A bullet that only describes ("– Đối với các sở, ban, ngành: Hướng dẫn tại Phụ lục
  I;": no action verb, no deadline, a pointer to an annex) is not a task.
- templates: "Phụ lục 1", "theo mẫu Phụ lục 3", "biểu mẫu Phụ lục 4"; signed: "ký số" near "pdf" or
  "định dạng".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.letters.deadlines import (
    _deadline_sentence,
    _deadlines,
    _has_deadline,
    _sentence_end,
    _spans,
    _without_closing,
)
from handlers.letters.header import _header
from handlers.letters.items import _is_time_section, _Item, _items, _label, _Para, _paragraphs, _segments
from handlers.letters.reading import paste_text
from handlers.letters.text import _clean, _flat, _squash, _starts_with, _words
from handlers.letters.units import (
    DEFAULT_GROUP_WORDS,
    ISSUER_KINDS,
    GroupWord,
    UnitRef,
    _Lexicon,
    _SEPARATORS,
    _tidy_name,
    _Zone,
)
from schedules.deadlines import Deadline

TITLE_LIMIT = 120
DELIVERABLE_LIMIT = 2000
PREFIX_LIMIT = 1000

NO_DEADLINE = "chưa có hạn — bổ sung hạn trước khi giao, hoặc bỏ qua"
NO_UNITS = "chưa xác định được đơn vị nhận"


# --- the draft ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DraftTask:
    title: str
    deliverable: str
    due_at: datetime | None
    phrase: str | None
    units: tuple[str, ...]
    lead: str | None = None
    coordinating: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    signed: bool = False
    unmatched_names: tuple[str, ...] = ()
    problem: str | None = None
    item: str | None = None  # where it comes from: "4", "2 (ý 3)" (item 2, third sub-item), "1 a)"

    @property
    def due_date(self) -> date | None:
        return None if self.due_at is None else self.due_at.date()

    @property
    def ready(self) -> bool:
        """Can be created as it stands: it has a deadline and at least one unit."""
        return self.due_at is not None and bool(self.units)


@dataclass(frozen=True)
class LetterDraft:
    number: str | None
    date: date | None
    subject: str | None
    recipients: tuple[str, ...]
    tasks: tuple[DraftTask, ...]
    reference: date  # what deadlines without a year were read against
    number_hint: str | None = None
    date_hint: str | None = None
    place: str | None = None
    recipient_units: tuple[str, ...] = ()
    unmatched_names: tuple[str, ...] = ()  # named recipients that match no roster unit
    notes: tuple[str, ...] = ()
    unit_names: Mapping[str, str] = field(default_factory=dict)  # code → name, in roster order
    group_members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    group_labels: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "number_hint": self.number_hint,
            "date": self.date.isoformat() if self.date else None,
            "subject": self.subject,
            "recipients": list(self.recipients),
            "recipient_units": list(self.recipient_units),
            "notes": list(self.notes),
            "tasks": [
                {
                    "title": task.title,
                    "due_at": task.due_at.isoformat() if task.due_at else None,
                    "phrase": task.phrase,
                    "units": list(task.units),
                    "lead": task.lead,
                    "signed": task.signed,
                    "coordinating": list(task.coordinating),
                    "templates": list(task.templates),
                    "unmatched": list(task.unmatched_names),
                    "problem": task.problem,
                    "item": task.item,
                    "deliverable": task.deliverable,
                }
                for task in self.tasks
            ],
        }


_TEMPLATE_RE = re.compile(
    r"\bphu\s+luc\s*(?:so\s*)?(?P<first>\d{1,2}|[ivx]{1,4})\b(?P<more>(?:\s*(?:,|va|-|–)\s*(?:\d{1,2}|[ivx]{1,4})\b)*)"
)
_SIGNED_RE = re.compile(r"(?:pdf|dinh\s+dang).{0,80}?\bky\s+so\b|\bky\s+so\b.{0,80}?(?:pdf|dinh\s+dang)", re.S)


def _templates(text: str) -> tuple[str, ...]:
    found: list[str] = []
    for m in _TEMPLATE_RE.finditer(_flat(text)):
        numbers = [m.group("first")] + re.findall(r"\d{1,2}|[ivx]{1,4}", m.group("more") or "")
        for number in numbers:
            label = f"Phụ lục {number.upper()}"
            if label not in found:
                found.append(label)
    return tuple(found)


def _signed(text: str) -> bool:
    return bool(_SIGNED_RE.search(_flat(text)))


_TITLE_CUTS = re.compile(r"\s\(|\s+gui\s+ve\b|\s+gui\s+(?:ubnd|phong|van\s+phong)\b|\s+de\s+tong\s+hop\b|;|:\s")
_TRAILING_LINKS = re.compile(r"(?:[\s,]+(?:hoan\s+thanh|phan\s+dau|tu\s+nay|den|va|truoc|cham\s+nhat|gui|ve|trong|"
                             r"vao|han|thoi\s+han))+[\s,]*$")
_PURE_DEADLINE = re.compile(r"^(?:hoan\s+thanh|thoi\s+han|han(?:\s+chot)?|cham\s+nhat|truoc)\b")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")


def _sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence ("." "!" "?" followed by a space)."""
    out, start = [], 0
    for m in _SENTENCE_SPLIT.finditer(text):
        out.append((start, m.start()))
        start = m.end()
    out.append((start, len(text)))
    return [(a, b) for a, b in out if text[a:b].strip()]


def _is_pure_deadline(sentence: str) -> bool:
    """"Hoàn thành trước ngày 10/12/2023." says when, not what."""
    return bool(_PURE_DEADLINE.match(_flat(sentence).strip()))


def _title(span: str, deadline: Deadline | None, lexicon: _Lexicon) -> str:
    """A short title: the deadline's sentence (or the span's first when that one only says when),
    from "báo cáo …" where it has one, without who it is for and without the deadline."""
    where = _deadline_sentence(span, deadline)
    if where is not None and not _is_pure_deadline(span[where[0]:where[1]]):
        text = span[where[0]:where[1]]
    else:
        firsts = [span[a:b] for a, b in _sentences(span) if len(span[a:b].split()) >= 3]
        text = firsts[0] if firsts else span
    flat = _flat(text)
    m = re.search(r"\bbao\s+cao\b", flat)
    if m and not re.search(r"tong\s+hop\s+$", flat[:m.start()]):
        text = text[m.start():]
    else:
        text = _after_subject(text, lexicon)
    if deadline is not None and deadline.phrase in text:
        before = text[: text.index(deadline.phrase)]
        trailing = _TRAILING_LINKS.search(_flat(before))
        if trailing:
            before = before[: trailing.start()]
        if len(before.split()) >= 3:
            text = before
    cut = _TITLE_CUTS.search(_flat(text))
    if cut and cut.start() >= 20:
        text = text[: cut.start()]
    text = _squash(text).strip(" ,;:.-")
    if len(text) > TITLE_LIMIT:
        text = text[:TITLE_LIMIT].rsplit(" ", 1)[0].rstrip(" ,;:.-") + "…"
    return text[:1].upper() + text[1:] if text else "Nhiệm vụ theo công văn"


_ADDRESS_WORDS: tuple[tuple[str, ...], ...] = (
    ("thuoc", "huyen"), ("huyen",), ("chu", "tri"), ("phoi", "hop", "voi"), ("phoi", "hop"), ("co", "lien", "quan"),
    ("lien", "quan"), ("va", "tuong", "duong"), ("tuong", "duong"),
)


def _after_subject(text: str, lexicon: _Lexicon) -> str:
    """The sentence without who it is addressed to: "Giao Phòng Nội vụ chủ trì, đôn đốc …" → "đôn đốc …"."""
    zone = lexicon.zone(text)
    leading = [m for m in zone.mentions if m.role in ("assignee", "coordinating")]
    if not leading:
        return text
    position = zone.tokens[leading[0].start].start
    if _words(text[:position]) not in ("", "giao", "giao cho", "de nghi", "yeu cau"):
        return text
    last = leading[0]
    for mention in leading[1:]:
        gap = zone.tokens[last.end:mention.start]
        if any(t.is_word and t.word not in _SEPARATORS | {"phoi", "hop", "voi", "chu", "tri", "cac"} for t in gap):
            break
        last = mention
    rest = zone.tokens[last.end:]
    k = 0
    while k < len(rest):
        if not rest[k].is_word:
            k += 1
            continue
        words = [t.word for t in rest[k:k + 3]]
        skip = next((len(seq) for seq in _ADDRESS_WORDS if _starts_with(words, seq)), 0)
        if not skip:
            break
        k += skip
    if k >= len(rest):
        return text
    return text[rest[k].start:]


# --- extraction -----------------------------------------------------------------------------------


@dataclass
class _Context:
    lexicon: _Lexicon
    reference: date
    tz: ZoneInfo
    subject: str | None
    recipient_units: list[str]
    recipient_unmatched: list[str]
    tasks: list[DraftTask] = field(default_factory=list)
    lead_in: _Zone | None = None  # "… đề nghị UBND các huyện, thị xã, thành phố:" before the first item


def extract_letter(
    text: str,
    units: Sequence[UnitRef],
    reference: date,
    tz: ZoneInfo,
    *,
    group_words: Sequence[GroupWord] = DEFAULT_GROUP_WORDS,
) -> LetterDraft:
    """Read a letter into a draft: its number, date, subject, recipients and proposed tasks."""
    paste_text(text)
    lexicon = _Lexicon(units, group_words)
    cleaned = _clean(text)
    lines = cleaned.split("\n")
    head = _header(lines)
    notes = list(head.notes)
    if head.date is not None:
        ref = head.date
    elif head.month_year is not None:
        month, year = head.month_year
        ref = date(year, month or 1, 1)
        notes.append(f"Công văn chưa ghi ngày ban hành; hạn không ghi năm được tính từ {ref:%d/%m/%Y}.")
    else:
        ref = reference
        if not any(n.startswith("Ngày ban hành") for n in notes):
            notes.append(f"Không thấy ngày ban hành; hạn không ghi năm được tính từ hôm nay ({ref:%d/%m/%Y}).")

    recipient_codes: list[str] = []
    recipient_unmatched: list[str] = []
    for line in head.recipients:
        zone = lexicon.zone(line)
        recipient_codes += zone.all_codes()
        # a recipient that is not in the roster is listed whole, for the coordinator to map
        recipient_unmatched += [] if zone.all_codes() else [_tidy_name(line)]

    body_lines = lines[head.body_start:]
    end = next((n for n, line in enumerate(body_lines) if _squash(_flat(line)).startswith("noi nhan")), len(body_lines))
    paras = _paragraphs(body_lines[:end])
    paras = _without_closing(paras, ref, tz)
    ctx = _Context(lexicon, ref, tz, head.subject, list(lexicon.sort(recipient_codes)), recipient_unmatched)
    items = _items(paras)
    if items and items[0].kind == "context" and items[0].paras[-1].text.rstrip().endswith(":"):
        ctx.lead_in = lexicon.zone(items[0].paras[-1].text)
    letter_wide = any(_is_time_section(item) and _has_deadline(item, ref, tz) for item in items)
    for item in items:
        _item_tasks(item, ctx, letter_wide)

    if not any(task.due_at for task in ctx.tasks):
        notes.append("Không tìm thấy ngày hạn nào trong văn bản (ví dụ «chậm nhất ngày 15/11/2024», "
                      "«trước ngày 20/11»).")
    groups: dict[str, list[str]] = {}
    for unit in units:
        if unit.kind in ISSUER_KINDS:
            continue
        for group in unit.groups:
            groups.setdefault(group, []).append(unit.code)
    labels: dict[str, str] = {}
    for word in group_words:
        if len(word.groups) == 1 and not word.generic:
            labels.setdefault(word.groups[0], word.phrase)
    return LetterDraft(
        number=head.number,
        number_hint=head.number_hint,
        date=head.date,
        date_hint=head.date_hint,
        place=head.place,
        subject=head.subject,
        recipients=tuple(head.recipients),
        recipient_units=tuple(ctx.recipient_units),
        unmatched_names=tuple(dict.fromkeys(recipient_unmatched)),
        tasks=tuple(ctx.tasks),
        reference=ref,
        notes=tuple(notes),
        unit_names={u.code: u.name for u in units},
        group_members={g: tuple(codes) for g, codes in groups.items()},
        group_labels=labels,
    )


def _item_tasks(item: _Item, ctx: _Context, letter_wide: bool) -> None:
    lead_in, subs = _segments(item)
    heading = ctx.lexicon.zone(item.heading.text.split(":", 1)[0] if ":" in item.heading.text[:200]
                               else item.heading.text) if item.heading else None
    time_section = _is_time_section(item)
    subheading: _Zone | None = None
    found: list[tuple[int, DraftTask]] = []  # (paragraph index, task): kept in the letter's order
    dated: set[int] = set()
    for index, para in enumerate(item.paras):
        if para.kind == "sub":
            subheading = ctx.lexicon.zone(para.text.split(":", 1)[0])
        deadlines, error = _deadlines(para.text, ctx.reference, ctx.tz)
        label = _label(item, para)
        if error:
            task = _problem_task([para], heading if para is not item.heading else None,
                                 subheading if para.kind != "sub" else None, ctx, label, problem=error)
            found += [(index, task)] if task else []
            dated.add(index)
            continue
        if deadlines:
            dated.add(index)
        for deadline, (start, end) in zip(deadlines, _spans(para.text, deadlines)):
            found += [(index, task) for task in _span_tasks(
                para.text, start, end, deadline, heading if para is not item.heading else None,
                subheading if para.kind != "sub" else None, ctx, label, letter_wide=time_section)]
    if item.kind == "numbered" and not time_section and not (letter_wide and not dated):
        position = {id(para): index for index, para in enumerate(item.paras)}
        if not dated and not subs:
            task = _problem_task(item.paras, heading, None, ctx, _label(item, item.paras[0]))
            found += [(0, task)] if task else []
        elif not any(position[id(para)] in dated for para in lead_in):  # else the sub-items say what to report
            for segment in subs:
                if not any(position[id(para)] in dated for para in segment):
                    task = _problem_task(segment, heading, None, ctx, _label(item, segment[0]))
                    found += [(position[id(segment[0])], task)] if task else []
    found.sort(key=lambda pair: pair[0])
    ctx.tasks += [task for _, task in found]


def _deliverable(text: str) -> str:
    text = _squash(text)
    return text if len(text) <= DELIVERABLE_LIMIT else text[: DELIVERABLE_LIMIT - 1].rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True)
class _Who:
    """Who a task goes to, and where that was read."""

    codes: list[str]
    unmatched: list[str]
    source: _Zone | None  # the zone naming them; None for the letter's recipients
    from_span: bool  # named in the span itself, not in a fallback


def _resolve(span: _Zone, fallbacks: list[str], heading: _Zone | None, subheading: _Zone | None,
             ctx: _Context) -> _Who:
    """The assignees: the span's, else the first fallback (text before the span, sub-heading, heading,
    the letter's lead-in) naming someone, else the letter's recipients."""
    if span.names_someone:
        return _Who(*_addressed(span, ctx), span, True)
    zones = [ctx.lexicon.zone(text) for text in fallbacks] + [subheading, heading, ctx.lead_in]
    for zone in zones:
        if zone is not None and zone.names_someone:
            return _Who(*_addressed(zone, ctx), zone, False)
    return _Who(list(ctx.recipient_units), list(ctx.recipient_unmatched), None, False)


def _addressed(zone: _Zone, ctx: _Context) -> tuple[list[str], list[str]]:
    """Who ``zone`` names. Generic words alone ("các cơ quan, đơn vị", "các sở, ban, ngành") mean the
    letter's recipients (those of the group among them, else all of them); when none of the
    recipients is in the roster, nobody, and the recipients are listed as unmatched."""
    if not (zone.only_generic and (ctx.recipient_units or ctx.recipient_unmatched)):
        return zone.assignees, zone.assignee_unmatched
    among = [code for code in zone.assignees if code in ctx.recipient_units]
    if among:
        return among, []
    return list(ctx.recipient_units), list(ctx.recipient_unmatched)


def _deliverers(assignees: list[str], zones: list[_Zone]) -> list[str]:
    """Assignees without the office the report is sent to ("gửi về Phòng Nội vụ"), unless named."""
    collectors = {code for zone in zones for code in zone.collectors}
    named = {code for zone in zones for code in zone.named_units}
    return [code for code in assignees if code not in collectors or code in named]


def _span_tasks(para: str, start: int, end: int, deadline: Deadline, heading: _Zone | None,
                subheading: _Zone | None, ctx: _Context, label: str | None, *, letter_wide: bool) -> list[DraftTask]:
    """The task(s) of one deadline: ``para[start:end]`` is its span."""
    lex = ctx.lexicon
    span_text = para[start:end]
    local = Deadline(deadline.due_at, deadline.due_date, deadline.phrase, deadline.kind,
                     deadline.start - start, deadline.end - start)
    # who: the deadline's own sentence first, then the span up to it, then what came before
    upto = _sentence_end(para, deadline.end, end)
    where = _deadline_sentence(para, deadline, lower=start, upper=end)
    zones = [lex.zone(para[where[0]:min(where[1], upto)])] if where else []
    zones.append(lex.zone(para[start:max(upto, deadline.end)]))
    span = next((zone for zone in zones if zone.names_someone or zone.leads), zones[-1])
    title = _title(span_text, local, lex)
    if letter_wide and span.only_generic and ctx.recipient_units:
        assignees, unmatched = list(ctx.recipient_units), list(ctx.recipient_unmatched)
        if ctx.subject:
            title = _subject_title(ctx.subject)
        leads: list[str] = []
    else:
        before = para[:min(start, PREFIX_LIMIT)]  # who the paragraph opens with ("Phòng A báo cáo …; …")
        who = _resolve(span, [before] if before.strip() else [], heading, subheading, ctx)
        assignees, unmatched = _deliverers(who.codes, zones + ([who.source] if who.source else [])), who.unmatched
        leads = span.leads
        if not leads and span.starts_with_lead_verb and len(set(assignees)) == 1:
            leads = [assignees[0]]
        if not leads and who.from_span and span.single_named is not None and set(assignees) == {span.single_named}:
            leads = [span.single_named]  # "Giao Phòng A báo cáo …", "Phòng A hướng dẫn …; báo cáo …"
    coordinating = span.coordinating
    common = dict(
        title=title,
        deliverable=_deliverable(span_text),
        due_at=deadline.due_at,
        phrase=deadline.phrase,
        templates=_templates(span_text),
        signed=_signed(span_text),
        unmatched_names=tuple(dict.fromkeys(unmatched + span.unmatched)),
        item=label,
    )
    if leads:
        return [
            DraftTask(units=(lead,), lead=lead,
                      coordinating=tuple(c for c in lex.sort(coordinating) if c != lead), **common)
            for lead in lex.sort(leads)
        ]
    units = lex.sort(assignees)
    return [DraftTask(units=units, lead=None, coordinating=tuple(c for c in lex.sort(coordinating) if c not in units),
                      problem=None if units else NO_UNITS, **common)]


def _subject_title(subject: str) -> str:
    text = re.sub(r"^\s*(?:V/v|v/v|Về việc:?)\s*", "", subject)
    text = text[:1].upper() + text[1:]
    if len(text) > TITLE_LIMIT:
        text = text[:TITLE_LIMIT].rsplit(" ", 1)[0] + "…"
    return text


_DESCRIPTION_RE = re.compile(
    r"^[^:]{0,150}:\s*(?:(?:huong\s+dan|thuc\s+hien|ap\s+dung|xem|chi\s+tiet|noi\s+dung)\s+)?"
    r"(?:tai|theo|nhu)\s+(?:phu\s+luc|(?:bieu\s+)?mau|de\s+cuong)\b[^.;:]{0,80}[.;]?\s*$"
)


def _is_description(text: str) -> bool:
    """A bullet that only points somewhere: "– Đối với các sở, ban, ngành: Hướng dẫn tại Phụ lục I;"
    (no action verb, no deadline, a pointer to an annex): not a task."""
    return bool(_DESCRIPTION_RE.match(_flat(_squash(text))))


def _problem_task(segment: list[_Para], heading: _Zone | None, subheading: _Zone | None, ctx: _Context,
                  label: str | None, problem: str = NO_DEADLINE) -> DraftTask | None:
    """A segment without a (valid) deadline. Without a deadline it is kept when it says who must act;
    with a deadline that cannot be read (``problem`` given) it is always kept."""
    text = " ".join(p.text for p in segment)
    first = segment[0].text
    if problem == NO_DEADLINE and _is_description(text):
        return None
    zone = ctx.lexicon.zone(text)
    own = zone.names_someone
    if problem == NO_DEADLINE and not own and not any(z is not None and z.names_someone for z in (heading, subheading)) \
            and not (segment[0].kind == "item" and ctx.lead_in is not None and ctx.lead_in.names_someone
                     and not first.rstrip().endswith(":")):
        return None  # nobody named, and not an item of a lead-in that names who must act
    if heading is not None and segment[0].kind == "item" and ":" not in first[:200]:
        heading = None  # the item is its own heading
    who = _resolve(zone, [], heading, subheading, ctx)
    assignees, unmatched = _deliverers(who.codes, [zone] + ([who.source] if who.source else [])), who.unmatched
    leads = zone.leads
    if not leads and zone.starts_with_lead_verb and len(set(assignees)) == 1:
        leads = [assignees[0]]
    lead = ctx.lexicon.sort(leads)[0] if leads else None
    units = (lead,) if lead else ctx.lexicon.sort(assignees)
    return DraftTask(
        title=_title(first, None, ctx.lexicon),
        deliverable=_deliverable(text),
        due_at=None,
        phrase=None,
        units=units,
        lead=lead,
        coordinating=tuple(c for c in ctx.lexicon.sort(zone.coordinating) if c not in units),
        templates=_templates(text),
        signed=_signed(text),
        unmatched_names=tuple(dict.fromkeys(unmatched + zone.unmatched)),
        problem=problem,
        item=label,
    )

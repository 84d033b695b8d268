"""The draft in Vietnamese, for the coordinator to check before the tasks are created."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from handlers.letters.drafting import NO_DEADLINE, LetterDraft

def _unit_list(codes: Sequence[str], draft: LetterDraft) -> str:
    """Names in roster order, a whole group said in a word: "UBND các xã, thị trấn (12 đơn vị)"."""
    chosen = set(codes)
    whole = {group: members for group, members in draft.group_members.items()
             if len(members) >= 2 and chosen.issuperset(members)}
    covered: dict[str, str] = {}
    for group, members in sorted(whole.items(), key=lambda kv: -len(kv[1])):
        for code in members:
            covered.setdefault(code, group)
    parts: list[str] = []
    said: set[str] = set()
    for code in codes:
        group = covered.get(code)
        if group is None:
            parts.append(draft.unit_names.get(code, code))
        elif group not in said:
            said.add(group)
            label = draft.group_labels.get(group, f"nhóm «{group}»")
            parts.append(f"{label} ({len(draft.group_members[group])} đơn vị)")
    text = ", ".join(parts)
    return text[:1].upper() + text[1:]


def render_draft(draft: LetterDraft, tz: ZoneInfo) -> str:
    """The draft in Vietnamese, for the coordinator to check before the tasks are created."""
    from handlers.texts import day, due

    if draft.number:
        head = f"📄 Công văn số {draft.number}"
    elif draft.number_hint:
        head = f"📄 Công văn chưa ghi số (…{draft.number_hint})"
    else:
        head = "📄 Công văn chưa ghi số"
    if draft.date:
        head += f", ngày {day(draft.date)}"
    elif draft.date_hint:
        head += f", chưa ghi ngày ({draft.date_hint})"
    lines = [head]
    if draft.subject:
        lines.append(draft.subject)
    if draft.recipients:
        lines.append("Kính gửi: " + "; ".join(draft.recipients))
    if draft.unmatched_names:
        lines.append("⚠️ không khớp đơn vị: " + ", ".join(draft.unmatched_names))
    lines += [f"ℹ️ {note}" for note in draft.notes]
    dated = sum(1 for task in draft.tasks if task.due_at is not None)
    lines.append("")
    if not draft.tasks:
        lines.append("Không tìm thấy nhiệm vụ nào để giao trong văn bản này.")
        return "\n".join(lines)
    review = sum(1 for task in draft.tasks if not task.ready)
    summary = f"Đề xuất {len(draft.tasks)} nhiệm vụ ({dated} có hạn"
    summary += f", {review} cần xem lại):" if review else "):"
    lines.append(summary)
    for number, task in enumerate(draft.tasks, start=1):
        lines.append("")
        lines.append(f"{number}. {task.title}" + (f"  [mục {task.item}]" if task.item else ""))
        if task.due_at is not None and task.phrase:
            lines.append(f"   Hạn: {due(task.phrase, task.due_at, tz)}")
        else:
            lines.append("   ⚠️ chưa có hạn")
        if task.units:
            lines.append(f"   Giao ({len(task.units)} đơn vị): {_unit_list(task.units, draft)}")
        if task.lead:
            lines.append(f"   Chủ trì: {draft.unit_names.get(task.lead, task.lead)}")
        if task.coordinating:
            lines.append(f"   Phối hợp: {_unit_list(task.coordinating, draft)}")
        if task.signed:
            lines.append("   Nộp: tệp PDF có ký số")
        if task.templates:
            lines.append("   Biểu mẫu: " + ", ".join(task.templates))
        if task.unmatched_names:
            lines.append("   ⚠️ không khớp đơn vị: " + ", ".join(task.unmatched_names))
        if task.problem and task.problem != NO_DEADLINE:
            lines.append(f"   ⚠️ {task.problem}")
    return "\n".join(lines)


def draft_json(draft: LetterDraft) -> dict[str, Any]:
    return draft.to_json()

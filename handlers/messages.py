"""The Vietnamese message catalogue: every sentence a user reads, in one place."""

from __future__ import annotations

from storage.models import Role, Unit
from handlers.texts import ROLE_LABELS

NOT_REGISTERED = (
    "Xin chào! Bạn chưa được đăng ký với Đôn Đốc.\n"
    "Hãy xin Phòng Nội vụ một mã mời (hoặc đường dẫn mời) rồi gửi: /start MÃ_MỜI"
)
INTERNAL_ERROR = "Xin lỗi, Đôn Đốc gặp lỗi khi xử lý tin nhắn này. Bạn hãy thử lại sau ít phút."
PLAIN_TEXT_HINT = (
    "Đôn Đốc chưa hiểu tin nhắn này. Để nộp báo cáo, hãy gửi tệp PDF; "
    "gõ /tasks để xem việc cần làm, /help để xem hướng dẫn."
)
FORBIDDEN = "Xin lỗi, vai trò của bạn không được dùng lệnh này."
NO_TASKS = "Chưa có nhiệm vụ nào."
NO_OPEN_TASKS = "Đơn vị bạn không còn việc nào phải nộp. Cảm ơn!"
NO_UNIT = "Tài khoản của bạn chưa gắn với đơn vị nào; hãy liên hệ Phòng Nội vụ."


PENDING_STEPS = {
    "return_reason": "nhập lý do trả lại hồ sơ",
    "extension_reason": "nhập lý do xin gia hạn",
    "extension_date": "nhập ngày xin gia hạn",
    "extension_deny": "nhập lý do từ chối gia hạn",
    "extension_pick": "chọn nhiệm vụ xin gia hạn",
    "pick_task": "chọn nhiệm vụ cho tệp vừa gửi",
    "await_file": "chờ tệp PDF để nộp",
    "assign_wait": "chờ nội dung công văn để giao việc",
}


def step_cancelled(kind: str) -> str:
    """A command typed while the bot waited for something else: that step is dropped, and said so."""
    if kind in ("assign_draft", "assign_due", "assign_units"):
        return "Bản nháp giao việc trước (chưa xác nhận) đã được bỏ."
    what = PENDING_STEPS.get(kind, "bước đang dở")
    return f"ℹ️ Đã huỷ bước đang chờ ({what}) vì bạn gõ lệnh mới. Tin nhắn tiếp theo không được tính cho bước đó."


def unknown_command(name: str) -> str:
    return f"Không có lệnh /{name}. Gõ /help để xem các lệnh dùng được."


def help_text(name: str, role: Role, unit: Unit | None, command_lines: list[str]) -> str:
    where = f", {unit.name}" if unit else ""
    return (
        f"Xin chào {name} ({ROLE_LABELS[role]}{where}).\n"
        "Đôn Đốc nhắc việc, nhận báo cáo và tài liệu kiểm chứng (PDF) theo hạn của công văn.\n\n"
        "Các lệnh:\n" + "\n".join(command_lines)
    )

START_WITHOUT_CODE = (
    "Chào mừng bạn đến với Đôn Đốc — trợ lý nhắc việc và nhận báo cáo của Phòng Nội vụ.\n"
    "Để bắt đầu, bạn cần một mã mời: hãy liên hệ Phòng Nội vụ, rồi bấm đường dẫn mời "
    "hoặc gửi: /start MÃ_MỜI"
)
INVITE_PROBLEMS = {
    "unknown": "Mã mời không đúng. Hãy kiểm tra lại hoặc xin Phòng Nội vụ mã mới.",
    "used": "Mã mời này đã được dùng. Mỗi mã chỉ dùng một lần; hãy xin Phòng Nội vụ mã mới.",
    "expired": "Mã mời đã hết hạn. Hãy xin Phòng Nội vụ mã mới.",
}


def already_registered(name: str) -> str:
    return f"Bạn đã đăng ký với tên {name}. Gõ /help để xem các lệnh."


def welcome(person, unit) -> str:
    from handlers.texts import ROLE_LABELS

    where = f" của {unit.name}" if unit else ""
    return (
        f"✅ Đăng ký thành công! Xin chào {person.name} — {ROLE_LABELS.get(person.role, person.role)}{where}.\n"
        "Từ nay Đôn Đốc sẽ nhắc bạn các việc cần nộp và nhận tài liệu qua đây.\n"
        "Gõ /tasks để xem việc cần làm, /help để xem hướng dẫn."
    )


# --- evidence intake ---------------------------------------------------------------------------

NOTHING_TO_SUBMIT = "Đơn vị bạn hiện không có nhiệm vụ nào cần nộp tài liệu. Gõ /tasks để xem."
PICK_EXPIRED = "Tệp trước đó không còn chờ chọn nhiệm vụ. Hãy gửi lại tệp PDF."
NOT_YOUR_TASK = "Nhiệm vụ này không còn nhận tài liệu của đơn vị bạn. Gõ /tasks để xem việc đang mở."
CANCELLED = "Đã huỷ."


def short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def takes_file(task) -> bool:
    """Whether a unit hands this task in as a file (every task but a count-only one: /tiendo instead)."""
    return task.count_mode != "count"


def count_hint(task) -> str | None:
    """How a unit reports a task's progress count, with an example («/tiendo #12 12/15»); None without one."""
    if not task.count_mode:
        return None
    example = f"{max(task.count_total - 3, 0)}/{task.count_total}" if task.count_total else "12/15"
    verb = "Báo cáo số lượng" if task.count_mode == "count" else "Kèm báo cáo số lượng"
    return f"{verb}: /tiendo #{task.id} {example} (số đã hoàn thành / số được giao)"


def megabytes(size: int | None) -> str:
    """A file size as people read it: 1,2 MB or 350 KB."""
    size = size or 0
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / 1024 / 1024:.1f} MB".replace(".", ",")


def file_too_large(name: str, size: int | None, limit: int) -> str:
    return (f"Tệp «{name}» ({megabytes(size)}) quá lớn: bot chỉ nhận tệp tối đa {limit // 1024 // 1024} MB. "
            "Hãy giảm dung lượng (in ra PDF với chất lượng thấp hơn) hoặc tách thành nhiều tệp rồi gửi lại.")


def which_task(name: str) -> str:
    return f"Tệp «{name}» dùng cho nhiệm vụ nào? Chọn một nhiệm vụ:"


def send_file_for(task) -> str:
    signed = " Nhiệm vụ này yêu cầu tệp PDF có ký số." if task.signature_required else ""
    return f"Hãy gửi tệp PDF cho nhiệm vụ «{task.title}».{signed}"


PDF_PROBLEMS = {
    "not_pdf": "không phải tệp PDF. Hãy gửi bản PDF (trong Word: Tệp → Lưu thành → PDF).",
    "encrypted": "đang đặt mật khẩu nên không mở được. Hãy gửi bản PDF không đặt mật khẩu.",
    "broken": "bị hỏng hoặc không đọc được. Hãy xuất lại tệp PDF và gửi lại.",
    "too_large": "quá lớn để kiểm tra. Hãy giảm dung lượng hoặc tách tệp rồi gửi lại.",
    "timeout": "quá phức tạp để kiểm tra tự động. Hãy xuất lại tệp PDF (in ra PDF) và gửi lại.",
    "memory": "quá phức tạp để kiểm tra tự động. Hãy xuất lại tệp PDF (in ra PDF) và gửi lại.",
    "polyglot": ("không chỉ là một tệp PDF: trong tệp còn có nội dung dạng khác (trang web, tệp nén ZIP hoặc "
                 "chương trình chạy được). Hãy xuất lại tệp PDF từ văn bản gốc và gửi lại."),
    "cert_encrypted": ("được mã hoá bằng chứng thư số cho người nhận cụ thể, nên chỉ người đó mở được. "
                       "Hãy gửi bản PDF không mã hoá (ký số vẫn giữ được)."),
    "too_many_pages": ("có quá nhiều trang hoặc cây trang vượt giới hạn đọc. Hãy tách tệp hoặc xuất lại "
                       "tệp PDF rồi gửi lại."),
}

ACTIVE_CONTENT = {
    "javascript": "mã JavaScript",
    "launch": "lệnh mở chương trình khác (/Launch)",
    "embedded_file": "tệp đính kèm bên trong",
}


def active_content_lines(report) -> list[str]:
    """A warning for the reviewer when the PDF carries active content (none: no line)."""
    kinds = [ACTIVE_CONTENT[kind] for kind in getattr(report, "active", ()) if kind in ACTIVE_CONTENT]
    if not kinds:
        return []
    return [f"⚠️ Tệp có nội dung chủ động: {', '.join(kinds)}. Chỉ mở bằng trình đọc PDF đã tắt JavaScript; "
            "không mở tệp đính kèm lạ."]


def pdf_problem(name: str, error: str | None) -> str:
    return f"❌ Chưa nhận: tệp «{name}» {PDF_PROBLEMS.get(error or 'broken', PDF_PROBLEMS['broken'])}"


def already_received(task, status: str) -> str:
    if status == "returned":
        return (f"Tệp này đã được nộp cho nhiệm vụ «{task.title}» và đã bị trả lại. "
                "Hãy gửi tệp đã chỉnh sửa.")
    return f"Tệp này đã được nhận cho nhiệm vụ «{task.title}» rồi; không cần gửi lại."


def signature_required(task, name: str) -> str:
    return (f"❌ Chưa nhận: nhiệm vụ «{task.title}» yêu cầu tệp PDF có ký số, nhưng tệp «{name}» chưa được ký số. "
            "Hãy ký số tệp rồi gửi lại.")


def signature_broken(task, name: str, report) -> str:
    return (f"❌ Chưa nhận: chữ ký số trong tệp «{name}» không còn nguyên vẹn (tệp đã bị sửa sau khi ký). "
            f"Nhiệm vụ «{task.title}» cần bản ký số còn nguyên vẹn; hãy ký lại và gửi lại.")


def assignment_closed(task, status: str) -> str:
    from handlers.texts import STATUS_LABELS

    return (f"Nhiệm vụ «{task.title}» của đơn vị bạn đã ở trạng thái «{STATUS_LABELS[status]}», không nhận thêm "
            "tài liệu. Nếu cần bổ sung, hãy liên hệ Phòng Nội vụ.")


def signature_json(sig) -> dict:
    return {"field": sig.field, "signer": sig.signer, "signed_at": sig.signed_at.isoformat() if sig.signed_at else None,
            "intact": sig.intact, "trusted": sig.trusted, "covers_whole_file": sig.covers_whole_file,
            "problem": sig.problem}


def signature_lines(report, tz) -> list[str]:
    from handlers.texts import instant

    if not report.signed:
        return ["Chữ ký số: tệp chưa được ký số."]
    lines = []
    for sig in report.signatures:
        when = f", ký lúc {instant(sig.signed_at, tz)}" if sig.signed_at else ""
        state = "còn nguyên vẹn" if sig.intact and sig.covers_whole_file else "KHÔNG còn nguyên vẹn"
        trust = "chứng thư tin cậy" if sig.trusted else "chưa xác minh được chứng thư"
        lines.append(f"Chữ ký số: {sig.signer or 'không rõ người ký'}{when} — {state}, {trust}.")
    return lines


def timeliness(received_at, due_at, tz) -> str:
    from handlers.texts import day

    local = due_at.astimezone(tz)
    local_due = local.date()
    when = f"hết ngày {day(local_due)}" if (local.hour, local.minute, local.second) == (23, 59, 59) \
        else f"{local:%H}h{local:%M} ngày {day(local_due)}"
    if received_at <= due_at:
        return f"Nộp đúng hạn (hạn {when})."
    late = (received_at.astimezone(tz).date() - local_due).days
    if late <= 0:  # a deadline at a time of day, missed the same day
        return f"Nộp muộn (hạn {when})."
    return f"Nộp muộn {late} ngày (hạn {when})."


def receipt(task, evidence, report, due_at, tz, added: bool) -> str:
    lines = [
        f"✅ Đã nhận tài liệu cho nhiệm vụ «{task.title}».",
        f"Tệp: {evidence.file_name} · {evidence.pages} trang · {megabytes(evidence.size)}",
        *signature_lines(report, tz),
        *active_content_lines(report),
        f"Mã kiểm tra (SHA-256): {evidence.sha256[:12]}…",
        timeliness(evidence.received_at, due_at, tz),
        (f"Đã bổ sung vào lần nộp {evidence.round}." if added else f"Lần nộp: {evidence.round}.")
        + " Phòng Nội vụ sẽ xem xét và báo lại.",
    ]
    return "\n".join(lines)


def review_request(unit, task, evidence, report, due_at, tz, person, added: bool = False) -> str:
    what = "gửi thêm tài liệu" if added else "đã nộp tài liệu"
    lines = [
        f"📥 {unit.name} {what} cho «{task.title}» (lần {evidence.round}).",
        f"Người gửi: {person.name}",
        f"Tệp: {evidence.file_name} · {evidence.pages} trang · {megabytes(evidence.size)}",
        *signature_lines(report, tz),
        *active_content_lines(report),
        timeliness(evidence.received_at, due_at, tz),
    ]
    return "\n".join(lines)


# --- review ------------------------------------------------------------------------------------

REVIEW_GONE = "Không tìm thấy hồ sơ này."
FILE_GONE = "Không tìm thấy tệp này."
NOTHING_TO_REVIEW = "Không có hồ sơ nào đang chờ xem xét. 👍"
REASON_TOO_SHORT = "Hãy viết rõ lý do trả lại (ít nhất vài chữ), hoặc bấm Huỷ."


def review_stale(task, unit, status: str) -> str:
    from handlers.texts import STATUS_LABELS

    return f"Hồ sơ «{task.title}» của {unit.name} hiện ở trạng thái «{STATUS_LABELS[status]}»; không cần xử lý nữa."


def accepted_done(task, unit, person) -> str:
    return f"✅ Đã chấp nhận hồ sơ «{task.title}» của {unit.name} ({person.name})."


def accepted_notice(task, person) -> str:
    return f"✅ Hồ sơ «{task.title}» của đơn vị đã được chấp nhận ({person.name}). Cảm ơn!"


def ask_return_reason(task, unit) -> str:
    return f"Lý do trả lại hồ sơ «{task.title}» của {unit.name}? Hãy gõ lý do (đơn vị sẽ nhận được nguyên văn)."


def returned_done(task, unit, reason: str) -> str:
    return f"↩️ Đã trả lại hồ sơ «{task.title}» của {unit.name}. Lý do: {reason}"


def returned_notice(task, reason: str, person) -> str:
    return (f"↩️ Hồ sơ «{task.title}» của đơn vị bị trả lại.\nLý do: {reason}\n"
            f"Người xem xét: {person.name}. Hãy chỉnh sửa và gửi lại tệp PDF.")


def reviews_heading(count: int) -> str:
    return f"📥 Có {count} hồ sơ đang chờ xem xét:"


def more_reviews(count: int) -> str:
    return f"… và {count} hồ sơ khác. Xử lý bớt rồi gõ /review để xem tiếp."


def review_item(task, unit, assignment, files, tz) -> str:
    from handlers.texts import instant

    names = ", ".join(e.file_name for e in files) or "không có tệp"
    when = instant(assignment.submitted_at, tz) if assignment.submitted_at else "?"
    return f"• {unit.name} — #{task.id} «{task.title}» (lần {assignment.round}, nộp lúc {when})\n  Tệp: {names}"


def file_caption(evidence) -> str:
    return f"{evidence.file_name} · lần nộp {evidence.round} · SHA-256 {evidence.sha256[:12]}…"

NOTHING_LATE = "Không có đơn vị nào quá hạn. 👍"
LOG_EMPTY = "Nhật ký chưa có gì."


def log_usage(arg: str) -> str:
    return f"Không hiểu «{arg}». Dùng: /log (tất cả), /log #SỐ_NHIỆM_VỤ hoặc /log MÃ_ĐƠN_VỊ."


def export_caption(count: int) -> str:
    return f"📊 Bảng tổng hợp {count} nhiệm vụ (Excel): trang tổng hợp, mỗi nhiệm vụ một trang, và nhật ký."

UNKNOWN_CHOICE = "Nút này đã cũ hoặc không hợp lệ. Gõ /help để bắt đầu lại."


def zalo_quota_warning(sent: int, quota: int) -> str:
    return (f"⚠️ Đôn Đốc đã gửi {number(sent)}/{number(quota)} tin Zalo trong tháng này "
            f"({sent * 100 // quota}% hạn mức). Khi hết hạn mức, Zalo sẽ ngừng nhận tin nhắc việc; hãy nâng gói "
            "hoặc chuyển bớt người sang Telegram.")


def number(value: int) -> str:
    """12.345: thousands grouped with dots, as Vietnamese writes them."""
    return f"{value:,}".replace(",", ".")
# Web links (channels without files: Zalo; Telegram files over its 20 MB bot limit)

UPLOAD_BY_LINK_SUBMIT = "Zalo không chuyển tệp cho bot được: hãy nộp qua trang web dưới đây."
UPLOAD_BY_LINK_REPLY = "Nộp tệp PDF cho nhiệm vụ này qua trang web (Zalo không chuyển tệp cho bot được):"
UPLOAD_BY_LINK_UNSUPPORTED = ("Zalo không chuyển tệp cho Đôn Đốc được. "
                              "Hãy mở liên kết dưới đây và chọn tệp PDF để nộp:")
UPLOAD_NOTE = "Mỗi liên kết dùng được một lần, trong {minutes} phút; tệp PDF tối đa {max_mb} MB."
UPLOAD_LINKS_UNAVAILABLE = ("Zalo không chuyển tệp cho Đôn Đốc được, và máy chủ chưa bật trang nộp tệp PDF. "
                            "Hãy nộp qua Telegram hoặc liên hệ Phòng Nội vụ.")


def upload_line(task, due_text: str, url: str) -> str:
    return f"📤 #{task.id} «{short(task.title, 80)}» — hạn {due_text}\n{url}"


def upload_links(intro: str, lines: list[str], minutes: int, max_mb: int, more: int = 0) -> str:
    parts = [intro, *lines]
    if more:
        parts.append(f"… và {more} nhiệm vụ khác: gõ /tasks để chọn.")
    parts.append(UPLOAD_NOTE.format(minutes=minutes, max_mb=max_mb))
    return "\n\n".join(parts)


def too_large_for_chat(name: str, size: int | None, chat_limit: int) -> str:
    return (f"Tệp «{name}» ({megabytes(size)}) vượt giới hạn {chat_limit // 1024 // 1024} MB mà Telegram cho bot "
            "tải về. Hãy nộp tệp này qua trang web:")

"""The Vietnamese message catalogue: every sentence a user reads, in one place."""

from __future__ import annotations

from storage.models import Role, Unit
from handlers.texts import ROLE_LABELS

NOT_REGISTERED = (
    "Xin chào! Bạn chưa được đăng ký với Đôn Đốc.\n"
    "Hãy xin Phòng Nội vụ một mã mời (hoặc đường dẫn mời) rồi gửi: /start MÃ_MỜI"
)
PLAIN_TEXT_HINT = (
    "Đôn Đốc đã nhận tin nhắn. Để nộp báo cáo, hãy gửi tệp PDF; "
    "gõ /tasks để xem việc cần làm, /help để xem hướng dẫn."
)
FORBIDDEN = "Xin lỗi, vai trò của bạn không được dùng lệnh này."
NO_TASKS = "Chưa có nhiệm vụ nào."
NO_OPEN_TASKS = "Đơn vị bạn không còn việc nào phải nộp. Cảm ơn!"
NO_UNIT = "Tài khoản của bạn chưa gắn với đơn vị nào; hãy liên hệ Phòng Nội vụ."


def unknown_command(name: str) -> str:
    return f"Không có lệnh /{name}. Gõ /help để xem các lệnh dùng được."


def help_text(name: str, role: Role, unit: Unit | None, command_lines: list[str]) -> str:
    where = f", {unit.name}" if unit else ""
    return (
        f"Xin chào {name} ({ROLE_LABELS[role]}{where}).\n"
        "Đôn Đốc nhắc việc, nhận báo cáo và tài liệu kiểm chứng (PDF) theo hạn của công văn.\n\n"
        "Các lệnh:\n" + "\n".join(command_lines)
    )

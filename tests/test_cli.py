"""The ``dondoc`` command line, run as a user would (CliRunner in-process; ``run`` as a real process)."""

from __future__ import annotations

import os
import subprocess
import sys

from storage.migrate import head_revision
from tests.conftest import call


def test_init_is_safe_twice(env):
    first, second = call("init"), call("init")
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert head_revision() in second.output
    assert (env / "data" / "dondoc.db").exists()


def test_demo_then_status_and_roster_list(env):
    assert call("demo").exit_code == 0
    again = call("demo")
    assert again.exit_code == 1 and "đã có danh sách đơn vị" in again.output
    status = call("status")
    assert status.exit_code == 0
    assert "Báo cáo kết quả xử lý kiến nghị của Doanh nghiệp" in status.output
    assert "Đang theo dõi 7 nhiệm vụ" in status.output and "\n#7 · " in status.output
    listing = call("roster", "list")
    assert "Xã Vĩnh Tú" in listing.output and "Lê Quang Vinh — lãnh đạo, UBND" in listing.output


def test_task_add_and_list(env):
    call("demo")
    ok = call("task", "add", "--title", "Báo cáo quý I", "--deadline", "trước ngày 01/3/2030",
              "--units", "group:xa,NV", "--lead", "NV", "--signed", "--letter", "15/UBND-NV")
    assert ok.exit_code == 0, ok.output
    assert "hết ngày thứ Năm 28/02/2030" in ok.output and "Giao cho 13 đơn vị" in ok.output
    assert "Báo cáo quý I" in call("task", "list").output
    bad_units = call("task", "add", "--title", "x", "--deadline", "hạn 15/11", "--units", "NV,NOPE")
    assert bad_units.exit_code == 1 and "NOPE" in bad_units.output
    bad_date = call("task", "add", "--title", "x", "--deadline", "sớm nhất có thể", "--units", "NV")
    assert bad_date.exit_code == 1 and "Không tìm thấy ngày hạn" in bad_date.output


def test_invite_prints_a_code_and_a_deep_link(env, monkeypatch):
    call("demo")
    plain = call("invite", "--unit", "HOXA", "--role", "officer")
    assert plain.exit_code == 0 and "/start " in plain.output
    monkeypatch.setenv("BOT_USERNAME", "@dondoc_bot")
    linked = call("invite", "--unit", "hoxa", "--role", "head", "--days", "3")
    assert "https://t.me/dondoc_bot?start=" in linked.output
    assert call("invite", "--unit", "NOPE", "--role", "officer").exit_code == 1
    wrong = call("invite", "--unit", "HOXA", "--role", "boss")
    assert wrong.exit_code == 1 and "Vai trò «boss» không hợp lệ" in wrong.output


def test_roster_import_bad_file_names_rows_and_writes_nothing(env):
    call("demo")
    before = call("roster", "list").output
    units = env / "units.csv"
    units.write_text("code,name,kind\nNV,Phòng Nội vụ,phòng\nNV,Phòng trùng,phòng\nX1,Xã Một,hợp tác xã\n",
                     encoding="utf-8")
    result = call("roster", "import", str(units))
    assert result.exit_code == 1
    assert "units.csv, dòng 3: mã «NV» trùng với dòng 2" in result.output
    assert "units.csv, dòng 4: loại đơn vị không hợp lệ" in result.output
    assert call("roster", "list").output == before


def test_wrong_setting_stops_start_up_naming_the_key(env, monkeypatch):
    monkeypatch.setenv("TIMEZONE", "Sao Hỏa/Căn cứ")
    result = call("status")
    assert result.exit_code == 2 and "TIMEZONE" in result.output
    monkeypatch.delenv("TIMEZONE")
    (env / ".env").write_text("QUIET_HOURS=tối\n", encoding="utf-8")
    result = call("status")
    assert result.exit_code == 2 and "QUIET_HOURS" in result.output


def test_run_without_token_opens_the_console_with_the_demo_board(env):
    """What the README's first command does, as a real process reading the terminal."""
    environment = {**os.environ, "DATA_DIR": str(env / "data"), "PYTHONIOENCODING": "utf-8"}
    environment.pop("TELEGRAM_BOT_TOKEN", None)
    script = "1\n/status\n/thoat\n"
    done = subprocess.run([sys.executable, "-m", "bot.cli", "run"], input=script, capture_output=True,
                          text=True, cwd=env, env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "đã nạp dữ liệu mẫu" in done.stdout
    assert "📊 Tình hình thực hiện" in done.stdout and "#1 · Báo cáo kết quả thực hiện Kế hoạch CCHC" in done.stdout


def test_help_usage_and_errors_are_vietnamese_for_every_command(env):
    from typer.main import get_command

    from bot.cli import cli

    english = ("Usage:", "Options", "Show this message", "Invalid value", "Missing", "No such", "Error:",
               "[required]", "Try '")

    def walk(command, path):
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    paths = list(walk(get_command(cli), []))
    assert len(paths) > 10  # every command and sub-app, including ones added later
    for path in paths:
        shown = call(*path, "--help")
        assert shown.exit_code == 0, (path, shown.output)
        assert "Cách dùng: " in shown.output and "Hiện hướng dẫn này rồi thoát." in shown.output, path
        assert not any(word in shown.output for word in english), (path, shown.output)

    cases = [
        (("invite", "--unit", "HOXA", "--role", "officer", "--days", "abc"),
         "Lỗi: Giá trị không hợp lệ cho '--days': phải là một số nguyên."),
        (("invite", "--unit", "HOXA", "--role", "officer", "--days", "0"),
         "Giá trị không hợp lệ cho '--days': phải lớn hơn hoặc bằng 1."),
        (("invite", "--role", "officer"), "Thiếu tuỳ chọn '--unit'."),
        (("invite", "--unit"), "Tuỳ chọn '--unit' cần một giá trị."),
        (("tick", "--bogus"), "Không có tuỳ chọn --bogus."),
        (("nope",), "Không có lệnh «nope»."),
        (("status", "thừa"), "Thừa tham số: thừa."),
        (("roster", "import", "khong-co.csv"), "«khong-co.csv» không tồn tại."),
    ]
    for args, expected in cases:
        result = call(*args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output, (args, result.output)
        assert "Cách dùng:" in result.output or args == ("invite", "--unit")
        assert not any(word in result.output for word in english), (args, result.output)
    bare = call("task")
    assert "Lệnh:" in bare.output and "Tạo nhiệm vụ" in bare.output


def test_translate_leaves_unknown_messages_and_covers_click_wording():
    from bot.cli_vi import translate

    assert translate("Invalid value for 'x': 'a' is not one of 'b', 'c'.") == \
        "Giá trị không hợp lệ cho 'x': 'a' không phải một trong: 'b', 'c'."
    assert translate("No such command 'stauts'. Did you mean 'status'?") == \
        "Không có lệnh «stauts». Có phải ý bạn là 'status'?"
    assert translate("Một câu tiếng Việt.") == "Một câu tiếng Việt."


def test_vietnamese_role_words_and_labels(env):
    call("demo")
    for role in ("cán bộ", "Trưởng phòng", "điều phối", "lãnh đạo", "officer", "CAN BO"):
        result = call("invite", "--unit", "HOXA", "--role", role)
        assert result.exit_code == 0, (role, result.output)
    wrong = call("invite", "--unit", "HOXA", "--role", "thủ quỹ")
    assert wrong.exit_code == 1 and "Vai trò «thủ quỹ» không hợp lệ" in wrong.output and "cán bộ" in wrong.output
    listing = call("roster", "list").output
    assert "Xã Vĩnh Tú  [xã/thị trấn; nhóm: xa]" in listing and "[phòng; nhóm: cqcm]" in listing
    assert "commune" not in listing and "department" not in listing
    ticked = call("tick", "--at", "2026-12-01 08:00", "--dry-run")
    assert ticked.exit_code == 0, ticked.output
    assert "· sắp đến hạn ·" in ticked.output or "· hạn ngày mai ·" in ticked.output
    assert not any(f"· {name} ·" in ticked.output for name in ("soon", "tomorrow", "today", "overdue", "escalated"))


def test_invite_codes_start_with_a_letter_or_digit():
    from storage.queries import INVITE_ALPHABET, invite_code

    codes = {invite_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(code) == 12 and set(code) <= set(INVITE_ALPHABET) and code[0].isalnum() for code in codes)
    assert not set("-_0O1lI") & set(INVITE_ALPHABET)


def test_task_add_refuses_an_empty_title_and_asks_before_a_past_deadline(env):
    from typer.testing import CliRunner

    from bot.cli import cli

    call("demo")
    before = call("task", "list").output
    for title in ("", "   ", "\u200b"):
        empty = call("task", "add", "--title", title, "--deadline", "chậm nhất ngày 15/12/2099", "--units", "NV")
        assert empty.exit_code == 1 and "Tên nhiệm vụ (--title) không được để trống." in empty.output
    args = ["task", "add", "--title", "Báo cáo cũ", "--deadline", "chậm nhất ngày 15/11/2020", "--units", "NV"]
    declined = CliRunner().invoke(cli, args, input="k\n")
    assert declined.exit_code == 1, declined.output
    assert "đã qua" in declined.output and "Vẫn tạo nhiệm vụ này?" in declined.output
    assert "Chưa tạo nhiệm vụ" in declined.output
    assert call("task", "list").output == before
    accepted = CliRunner().invoke(cli, args, input="có\n")
    assert accepted.exit_code == 0 and "Đã tạo nhiệm vụ" in accepted.output, accepted.output
    forced = call(*args, "--yes")
    assert forced.exit_code == 0 and "Vẫn tạo" not in forced.output
    future = call("task", "add", "--title", "Báo cáo mới", "--deadline", "chậm nhất ngày 15/12/2099", "--units", "NV")
    assert future.exit_code == 0 and "Vẫn tạo" not in future.output


def _next_working_morning(weeks: int) -> str:
    from datetime import date, timedelta

    from schedules.calendar import WorkCalendar

    calendar = WorkCalendar()
    day = calendar.next_working_day(date.today() + timedelta(weeks=weeks))
    return f"{day:%Y-%m-%d} 07:30"


def _bind(env, name: str) -> None:
    import asyncio
    from datetime import datetime, timezone

    from sqlmodel import select

    from storage.db import Database
    from storage.models import Person
    from storage.queries import bind_identity

    async def work():
        db = Database(f"sqlite:///{env / 'data' / 'dondoc.db'}")
        async with db.session() as session:
            person = (await session.exec(select(Person).where(Person.name == name))).one()
            await bind_identity(session, person, channel="telegram", external_id="4242", chat_id="4242",
                                username=None, now=datetime.now(timezone.utc))
        await db.dispose()

    asyncio.run(work())


def test_tick_names_the_people_who_have_not_joined_and_roster_list_shows_channels(env):
    call("demo")
    _bind(env, "Võ Thị Lan")
    at = _next_working_morning(5)
    added = call("task", "add", "--title", "Báo cáo nhanh", "--deadline", f"chậm nhất ngày {at[8:10]}/{at[5:7]}/{at[:4]}",
                 "--units", "all")
    assert added.exit_code == 0, added.output
    dry = call("tick", "--at", at, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Sẽ gửi" in dry.output and "Võ Thị Lan (VP)" in dry.output
    assert "tin không gửi được:" in dry.output and "người chưa tham gia" in dry.output
    assert "Thị trấn Hồ Xá: Nguyễn Văn An" in dry.output
    real = call("tick", "--at", at)
    assert real.exit_code == 0 and "Đã xếp hàng gửi" in real.output and "Thị trấn Hồ Xá: Nguyễn Văn An" in real.output
    listing = call("roster", "list").output
    assert "Võ Thị Lan — công chức phụ trách, VP · kênh: Telegram" in listing
    assert "Nguyễn Văn An — công chức phụ trách, HOXA · chưa tham gia" in listing


def test_tick_on_a_day_off_sends_nothing_and_says_why(env):
    call("demo")
    result = call("tick", "--at", "2027-01-01 08:00", "--dry-run")
    assert result.exit_code == 0 and "không phải ngày làm việc" in result.output


def test_invite_missing_writes_a_printable_sheet_with_a_qr_code_each(env, monkeypatch):
    from openpyxl import load_workbook

    call("demo")
    _bind(env, "Võ Thị Lan")
    monkeypatch.setenv("BOT_USERNAME", "dondoc_bot")
    sheet_path = env / "moi.xlsx"
    result = call("invite", "--missing", "--xlsx", str(sheet_path))
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("— ")]
    assert lines and not any("Võ Thị Lan" in line for line in lines)
    assert any(line.startswith("— Nguyễn Văn An (HOXA): ") and "https://t.me/dondoc_bot?start=" in line
               for line in lines)
    sheet = load_workbook(sheet_path).active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == len(lines) and len(sheet._images) == len(lines)
    assert [cell.value for cell in sheet[1]] == ["Họ và tên", "Đơn vị", "Vai trò", "Mã mời", "Đường dẫn", "Hết hạn",
                                                 "Mã QR"]
    an = next(row for row in rows if row[0] == "Nguyễn Văn An")
    assert an[1] == "Thị trấn Hồ Xá" and an[4] == f"https://t.me/dondoc_bot?start={an[3]}"
    assert sheet._images[0]._data()[:8] == b"\x89PNG\r\n\x1a\n"
    assert call("invite", "--missing", "--xlsx", str(env / "moi.txt")).exit_code == 1
    assert call("invite", "--xlsx", str(sheet_path)).exit_code == 1


def test_counts_are_checked_and_rebuilt(env):
    """``dondoc counts`` finds per-task counts that differ from a recount (say, rows written behind the bot's
    back) and ``--rebuild`` fixes them."""
    import asyncio

    from sqlalchemy import update

    from storage.db import Database
    from storage.models import TaskTally

    call("demo")
    assert call("counts").output.strip() == "Số đếm theo nhiệm vụ khớp với dữ liệu gốc."

    async def spoil() -> None:
        db = Database(f"sqlite:///{env / 'data' / 'dondoc.db'}")
        async with db.session() as session:
            await session.exec(update(TaskTally).where(TaskTally.status == "pending").values(units=TaskTally.units + 2))
        await db.dispose()

    asyncio.run(spoil())
    found = call("counts")
    assert found.exit_code == 1 and "số đếm lệch" in found.output and "--rebuild" in found.output
    fixed = call("counts", "--rebuild")
    assert fixed.exit_code == 0 and "Đã đếm lại và sửa" in fixed.output
    assert call("counts").exit_code == 0

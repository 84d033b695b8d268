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

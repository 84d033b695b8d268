"""The ``dondoc`` command line (typer)."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bot.app import App, build_app
from bot.cli_vi import VietnameseGroup
from bot.settings import Settings, SettingsError, load_settings

T = TypeVar("T")

cli = typer.Typer(help="Đôn Đốc: nhắc việc, nhận báo cáo và tài liệu kiểm chứng theo hạn.", no_args_is_help=True,
                  add_completion=False, cls=VietnameseGroup, rich_markup_mode=None)
roster_cli = typer.Typer(help="Danh sách đơn vị và cán bộ.", no_args_is_help=True)
task_cli = typer.Typer(help="Nhiệm vụ và hạn nộp.", no_args_is_help=True)
cli.add_typer(roster_cli, name="roster")
cli.add_typer(task_cli, name="task")
letter_cli = typer.Typer(help="Công văn: đọc và đề xuất nhiệm vụ.", no_args_is_help=True)
cli.add_typer(letter_cli, name="letter")
calendar_cli = typer.Typer(help="Lịch làm việc của cơ quan: ngày nghỉ, ngày làm bù.", no_args_is_help=True)
cli.add_typer(calendar_cli, name="calendar")
export_cli = typer.Typer(help="Xuất dữ liệu: gói minh chứng đã duyệt.", no_args_is_help=True)
cli.add_typer(export_cli, name="export")


def fail(message: str, code: int = 1) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


YES_WORDS = {"c", "co", "có", "y", "yes", "ok", "đồng ý", "dong y"}


def confirm(question: str) -> bool:
    """Ask a yes/no question in Vietnamese on the terminal; no (the default) unless «c»/«có» is typed."""
    answer = typer.prompt(f"{question} (c = có / k = không)", default="k", show_default=True)
    return answer.strip().lower() in YES_WORDS


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc), 2)
        raise  # unreachable


def with_app(work: Callable[[App], Awaitable[T]], *, migrate: bool = True) -> T:
    """Build the app, make sure the schema is current, run ``work``, close everything."""
    from storage.migrate import upgrade

    app = build_app(settings_or_exit())

    async def main() -> T:
        try:
            if migrate:
                await upgrade(app.db)
                await app.refresh_calendar()
            return await work(app)
        finally:
            await app.close()

    return asyncio.run(main())


@cli.command()
def init() -> None:
    """Tạo hoặc nâng cấp cơ sở dữ liệu (chạy nhiều lần cũng an toàn)."""
    from storage.migrate import current_revision

    async def work(app: App) -> str | None:
        return await current_revision(app.db)

    revision = with_app(work)
    typer.echo(f"Cơ sở dữ liệu sẵn sàng (phiên bản {revision}).")


@cli.command()
def demo() -> None:
    """Nạp dữ liệu mẫu (huyện Vĩnh Linh, công văn CCHC 11/2024) vào cơ sở dữ liệu trống."""
    from bot.demo import DemoNotEmpty, load_demo

    async def work(app: App) -> None:
        await load_demo(app.db, now=app.clock.now(), tz=app.settings.tz)

    try:
        with_app(work)
    except DemoNotEmpty:
        fail("Cơ sở dữ liệu đã có danh sách đơn vị; dữ liệu mẫu chỉ nạp vào cơ sở dữ liệu trống.")
    typer.echo("Đã nạp dữ liệu mẫu. Chạy «dondoc status» hoặc «dondoc run» để xem.")


@cli.command()
def run(
    no_jobs: Annotated[bool, typer.Option("--no-jobs", help="không chạy lượt nhắc và bản tin sáng (đã có "
                                                             "«dondoc worker» chạy)")] = False,
    no_sender: Annotated[bool, typer.Option("--no-sender", help="không gửi hàng đợi tin (đã có «dondoc worker "
                                                                "--sender» gửi)")] = False,
) -> None:
    """Chạy bot: qua Telegram khi có TELEGRAM_BOT_TOKEN, nếu không thì trò chuyện ngay trên máy."""
    from bot.app import run_bot
    from bot.console import ConsoleChannel, ConsoleTransport, fetch_local
    from bot.demo import is_empty, load_demo
    from bot.sender import Limits, RateLimiter

    async def work(app: App) -> None:
        logging.basicConfig(level=app.settings.log_level.upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        platforms = [name for name, token in (("Telegram", app.settings.token), ("Zalo", app.settings.zalo_token))
                     if token]
        if platforms:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            typer.echo(f"Đôn Đốc đang chạy trên {' và '.join(platforms)}. Nhấn Ctrl+C để dừng.")
            await run_bot(app, stop=stop, with_scheduler=not no_jobs, with_sender=not no_sender)
            return
        if await is_empty(app.db):
            await load_demo(app.db, now=app.clock.now(), tz=app.settings.tz)
            typer.echo("Cơ sở dữ liệu trống: đã nạp dữ liệu mẫu để bạn dùng thử.")
        app.transports["console"] = ConsoleTransport(app.db, clock=app.clock)
        app.ctx.fetch_file = fetch_local
        sender = app.sender(limiter=RateLimiter(Limits(global_per_s=1000, per_chat_interval_s=0)))
        console = ConsoleChannel(app.conversation, app.db, app.clock,
                                 outbox_dir=app.settings.data_dir / "console-files", after_message=sender.drain)
        await console.run()

    with_app(work)


@cli.command()
def worker(
    sender: Annotated[bool, typer.Option("--sender", help="gửi cả hàng đợi tin từ tiến trình này")] = False,
) -> None:
    """Chạy lượt nhắc mỗi phút và bản tin sáng trong một tiến trình riêng, để bot trò chuyện không bị chậm.

    Dùng cùng «dondoc run --no-jobs». Trên PostgreSQL có thể chạy nhiều worker; trên SQLite chỉ một."""
    from bot.app import run_worker

    async def work(app: App) -> None:
        logging.basicConfig(level=app.settings.log_level.upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if sender and not (app.settings.token or app.settings.zalo_token):
            fail("Cần TELEGRAM_BOT_TOKEN hoặc ZALO_BOT_TOKEN để gửi tin (--sender).")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        typer.echo("Đôn Đốc worker đang chạy (nhắc việc, bản tin sáng" + (", gửi tin" if sender else "")
                   + "). Nhấn Ctrl+C để dừng.")
        await run_worker(app, stop=stop, with_sender=sender)

    with_app(work)


def parse_at(text: str | None, tz) -> datetime | None:
    """``--at "2024-11-14 07:30"`` in the configured time zone; None when not given (the caller uses now)."""
    if text is None:
        return None
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=tz)
    except ValueError:
        fail(f"Thời điểm «{text}» không đúng dạng «YYYY-MM-DD HH:MM», ví dụ «2024-11-14 07:30».")
        raise


@cli.command()
def tick(
    at: Annotated[str | None, typer.Option("--at", help="thời điểm chạy, «YYYY-MM-DD HH:MM» (giờ địa phương)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="chỉ in những tin sẽ gửi, không ghi gì")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="in dạng JSON, mỗi tin một đối tượng")] = False,
) -> None:
    """Chạy một lượt nhắc việc tại một thời điểm (để kiểm tra bậc nhắc hoặc chạy bù)."""
    from bot import jobs

    instant = parse_at(at, settings_or_exit().tz)

    async def work(app: App) -> list:
        if not dry_run:
            await jobs.workflows(app, instant or app.clock.now())  # recurring tasks whose period opened
        return await jobs.tick(app, instant or app.clock.now(), dry_run=dry_run)

    result = with_app(work)
    if as_json:
        typer.echo(json.dumps({"messages": [p.as_json() for p in result.messages], "skipped": result.skipped,
                               "unjoined": {unit: sorted(names) for unit, names in sorted(result.unjoined.items())},
                               "unjoined_items": result.unjoined_items}, ensure_ascii=False, indent=2))
        return
    typer.echo(render_tick(result, dry_run=dry_run))


def render_tick(result, *, dry_run: bool) -> str:
    """What a tick did, in Vietnamese: the messages, and the people it could not reach."""
    if result.skipped:
        return f"Không gửi tin nhắc lúc này: {result.skipped}."
    from handlers.texts import RUNG_LABELS

    def line(p) -> str:
        tasks = ", ".join(f"#{item.task.id}" for item in p.items[:12]) + (" …" if len(p.items) > 12 else "")
        where = "lãnh đạo" if p.escalation else p.unit.code
        rungs = " · ".join(dict.fromkeys(RUNG_LABELS.get(item.rung.name, item.rung.name) for item in p.items))
        return f"— {p.person.name} ({where}) · {rungs} · {len(p.items)} việc: {tasks}"

    lines = []
    sendable = [p for p in result.messages if p.reachable]
    if not sendable:
        lines.append("Không có tin nhắc nào gửi được lúc này.")
    else:
        verb = "Sẽ gửi" if dry_run else "Đã xếp hàng gửi"
        lines.append(f"{verb} {len(sendable)} tin nhắc (mỗi người một tin):")
        lines += [line(p) for p in sendable]
    unsendable = [p for p in result.messages if not p.reachable]
    if unsendable:  # a dry run shows what is due for them too
        lines.append(f"Đến hạn nhắc nhưng chưa gửi được ({len(unsendable)} người chưa tham gia):")
        lines += [line(p) for p in unsendable]
    if result.unjoined:
        people = result.unjoined_people
        lines.append(f"⚠️ {result.unjoined_items} tin không gửi được: {people} người chưa tham gia "
                     f"(chưa liên kết tài khoản chat):")
        for unit, names in sorted(result.unjoined.items()):
            lines.append(f"  {unit}: {', '.join(sorted(names))}")
        lines.append("Tạo mã mời cho họ: dondoc invite --missing --xlsx moi.xlsx")
    return "\n".join(lines)


@cli.command()
def status(
    everything: Annotated[bool, typer.Option("--tat-ca", "--all", help="cả nhiệm vụ đã lưu trữ hoặc đã xong")] = False,
) -> None:
    """In bảng tình hình: tóm tắt, rồi mỗi nhiệm vụ (#số) với số đơn vị đã nộp / tổng số, quá hạn."""
    from handlers.board import load_view, status_text

    async def work(app: App) -> str:
        now = app.clock.now()
        async with app.db.session() as session:
            view = await load_view(session, now, app.settings.tz, app.calendar, include_archived=everything)
        from handlers.progress import progress, render

        async with app.db.session() as session:
            counts = render(await progress(session), app.settings.tz)  # issue 11: progress counts
        text = status_text(view)
        return f"{text}\n\n{counts}" if counts else text

    typer.echo(with_app(work))


@cli.command()
def counts(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="đếm lại từ dữ liệu gốc và ghi đè số đếm sai")] = False,
) -> None:
    """Kiểm tra số đếm theo nhiệm vụ mà /status dùng (đếm lại từ các lượt giao việc); --rebuild để sửa."""
    from storage.tallies import drift, recount

    async def work(app: App) -> dict:
        async with app.db.session() as session:
            found = await drift(session)
            if found and rebuild:
                await recount(session, sorted({task_id for task_id, _, _ in found}))
        return found

    found = with_app(work)
    if not found:
        typer.echo("Số đếm theo nhiệm vụ khớp với dữ liệu gốc.")
        return
    lines = [f"Nhiệm vụ #{task_id} · {status}{' (muộn)' if late else ''}: ghi {kept}, đếm lại được {counted}"
             for (task_id, status, late), (kept, counted) in sorted(found.items())]
    verdict = "Đã đếm lại và sửa." if rebuild else "Chạy lại với --rebuild để sửa."
    typer.echo(f"{len(found)} số đếm lệch với dữ liệu gốc:\n" + "\n".join(lines) + f"\n{verdict}")
    if not rebuild:
        raise typer.Exit(1)


# --- digest (the morning digest: preview or queue) ---------------------------------------------


@cli.command()
def digest(
    at: Annotated[str | None, typer.Option("--at", help="thời điểm theo giờ địa phương, «2024-11-25 07:30»; "
                                                        "mặc định: bây giờ")] = None,
    preview: Annotated[bool, typer.Option("--preview", help="chỉ in bản tin và ghi biểu đồ, bảng Excel ra tệp; "
                                                            "không gửi")] = False,
    out: Annotated[Path | None, typer.Option("--out", file_okay=False, help="thư mục ghi tệp khi --preview; "
                                                                            "mặc định DATA_DIR/digest")] = None,
) -> None:
    """Bản tin sáng cho lãnh đạo và Phòng Nội vụ: xem trước (--preview) hoặc xếp vào hàng đợi gửi."""
    from handlers.digest import build_digest, queue_digest

    tz = settings_or_exit().tz
    instant = parse_at(at, tz)

    async def work(app: App) -> tuple[str, list[Path]] | tuple[int, bool]:
        now = instant or app.clock.now()
        async with app.db.session() as session:
            if preview:
                built = await build_digest(session, now=now, tz=tz, calendar=app.calendar, since=None,
                                           zalo_quota=app.settings.zalo_monthly_quota)
                folder = out or app.settings.data_dir / "digest"
                folder.mkdir(parents=True, exist_ok=True)
                written = [folder / built.chart_name, folder / built.workbook_name]
                written[0].write_bytes(built.chart_png)
                written[1].write_bytes(built.workbook)
                return built.text, written
            working = app.calendar.is_working_day(now.astimezone(tz).date())
            return await queue_digest(session, now=now, tz=tz, calendar=app.calendar, since=None,
                                      blobs=app.ctx.blobs, zalo_quota=app.settings.zalo_monthly_quota), working

    result = with_app(work)
    if preview:
        text, written = result
        typer.echo(text)
        typer.echo("")
        typer.echo("Đã ghi: " + ", ".join(str(path) for path in written))
        return
    queued, working = result
    if not working:
        typer.echo("Hôm đó là ngày nghỉ: không gửi bản tin.")
    elif queued:
        typer.echo(f"Đã xếp {queued} tin vào hàng đợi; bot đang chạy («dondoc run») sẽ gửi đi.")
    else:
        typer.echo("Không có tin mới để xếp: bản tin hôm đó đã được xếp, hoặc chưa ai nhận (lãnh đạo, điều phối"
                   " chưa đăng ký tài khoản chat).")


# --- end of digest ------------------------------------------------------------------------------


@roster_cli.command("import")
def roster_import(
    files: Annotated[list[Path], typer.Argument(help="Tệp .xlsx (hai trang: đơn vị, cán bộ) hoặc các tệp .csv",
                                                exists=True, dir_okay=False, readable=True)],
) -> None:
    """Nhập danh sách đơn vị và cán bộ; có dòng sai thì không ghi gì cả."""
    from storage.roster import RosterError, load_roster

    async def work(app: App):
        async with app.db.session() as session:
            return await load_roster(session, list(files), now=app.clock.now(), actor="cli:roster import")

    try:
        result = with_app(work)
    except RosterError as exc:
        fail("Không nhập được, chưa ghi gì vào cơ sở dữ liệu. Các dòng sai:\n" + str(exc))
    typer.echo(
        f"Đơn vị: thêm {result.units_created}, sửa {result.units_updated}, giữ nguyên {result.units_unchanged}.\n"
        f"Cán bộ: thêm {result.people_created}, sửa {result.people_updated}, giữ nguyên {result.people_unchanged}."
    )


@roster_cli.command("list")
def roster_list() -> None:
    """In danh sách đơn vị và cán bộ, kèm kênh chat mỗi người đã liên kết."""
    from handlers.texts import KIND_LABELS, ROLE_LABELS
    from storage.outbox import channels_by_person
    from storage.queries import list_people, list_units

    async def work(app: App) -> list[str]:
        async with app.db.session() as session:
            units = await list_units(session)
            people = await list_people(session)
            channels = await channels_by_person(session)
        lines = [f"Đơn vị ({len(units)}):"]
        lines += [f"  {u.code:<10} {u.name}  [{KIND_LABELS.get(u.kind, u.kind)}"
                  + (f"; nhóm: {', '.join(u.groups)}" if u.groups else "") + "]" for u in units]
        missing = sum(1 for p, _ in people if not channels.get(p.id))
        lines.append(f"Cán bộ ({len(people)}; chưa tham gia: {missing}):")
        lines += [f"  {p.name} — {ROLE_LABELS.get(p.role, p.role)}{', ' + u.code if u else ''}"
                  + (f", {p.phone}" if p.phone else "")
                  + (f" · kênh: {', '.join(CHANNEL_LABELS.get(c, c) for c in channels[p.id])}" if channels.get(p.id)
                     else " · chưa tham gia") for p, u in people]
        return lines

    typer.echo("\n".join(with_app(work)))


CHANNEL_LABELS = {"telegram": "Telegram", "zalo": "Zalo", "console": "máy tính"}


def invite_link(code: str, bot_username: str | None) -> str:
    return f"https://t.me/{bot_username}?start={code}" if bot_username else f"/start {code}"


@cli.command()
def invite(
    unit: Annotated[str | None, typer.Option("--unit", help="mã đơn vị")] = None,
    role: Annotated[str | None, typer.Option("--role", help="cán bộ | trưởng phòng | điều phối | lãnh đạo | quản trị "
                                                            "(hoặc officer | head | coordinator | leader | admin)")] = None,
    days: Annotated[int | None, typer.Option("--days", min=1, max=365, help="số ngày hiệu lực")] = None,
    missing: Annotated[bool, typer.Option("--missing", help="mã mời mới cho mọi người chưa tham gia")] = False,
    xlsx: Annotated[Path | None, typer.Option("--xlsx", dir_okay=False,
                                              help="với --missing: ghi bảng in được (kèm mã QR) ra tệp .xlsx")] = None,
) -> None:
    """Tạo mã mời dùng một lần: cho một đơn vị và vai trò, hoặc (--missing) cho mọi người chưa tham gia."""
    from storage.queries import create_invite, unit_by_code
    from storage.roster import role_from_text

    if missing:
        invite_missing_cmd(days, xlsx)
        return
    if xlsx is not None:
        fail("--xlsx chỉ dùng cùng --missing.")
    for name, value in (("unit", unit), ("role", role)):
        if value is None:  # required unless --missing: the usual "missing option" answer
            from typer._click.globals import get_current_context
            from typer._click.exceptions import MissingParameter

            context = get_current_context()
            raise MissingParameter(ctx=context, param=next(p for p in context.command.params if p.name == name))
    role_value = role_from_text(role)
    if role_value is None:
        fail(f"Vai trò «{role}» không hợp lệ; dùng một trong: cán bộ, trưởng phòng, điều phối, lãnh đạo, quản trị "
             "(hoặc officer, head, coordinator, leader, admin).")

    async def work(app: App) -> tuple[str, Any]:
        ttl = timedelta(days=days or app.settings.invite_ttl_days)
        async with app.db.session() as session:
            found = await unit_by_code(session, unit)
            if found is None:
                fail(f"Không có đơn vị mã «{unit}». Xem: dondoc roster list")
            created = await create_invite(session, unit=found, role=role_value, now=app.clock.now(), ttl=ttl)
            return created.code, created.expires_at.astimezone(app.settings.tz)

    code, expires = with_app(work)
    settings = settings_or_exit()
    typer.echo(f"Mã mời: {code}\nHết hạn: {expires:%H:%M %d/%m/%Y}")
    if settings.bot_username:
        typer.echo(f"Đường dẫn: {invite_link(code, settings.bot_username)}")
    else:
        typer.echo(f"Người được mời gửi cho bot: /start {code}")


def invite_missing_cmd(days: int | None, xlsx: Path | None) -> None:
    from handlers.invites import invite_missing, invite_sheet
    from handlers.texts import instant

    if xlsx is not None and xlsx.suffix.lower() != ".xlsx":
        fail(f"Tệp «{xlsx}» phải có đuôi .xlsx.")

    async def work(app: App):
        ttl = timedelta(days=days or app.settings.invite_ttl_days)
        async with app.db.session() as session:
            return await invite_missing(session, now=app.clock.now(), ttl=ttl,
                                        link_for=lambda code: invite_link(code, app.settings.bot_username))

    issued = with_app(work)
    tz = settings_or_exit().tz
    if not issued:
        typer.echo("Mọi người đều đã tham gia: không cần mã mời mới.")
        return
    typer.echo(f"Đã tạo {len(issued)} mã mời mới cho người chưa tham gia:")
    for entry in issued:
        typer.echo(f"— {entry.person.name} ({entry.unit.code if entry.unit else 'không thuộc đơn vị'}): {entry.code}"
                   f" · {entry.link} · hết hạn {instant(entry.expires_at, tz)}")
    if xlsx is not None:
        xlsx.parent.mkdir(parents=True, exist_ok=True)
        xlsx.write_bytes(invite_sheet(issued, tz))
        typer.echo(f"Đã ghi bảng in (kèm mã QR): {xlsx}")


@task_cli.command("add")
def task_add(
    title: Annotated[str, typer.Option("--title", help="tên nhiệm vụ")],
    deadline: Annotated[str, typer.Option("--deadline", help="như trong công văn: «chậm nhất ngày 15/11/2024»")],
    units: Annotated[str, typer.Option("--units", help="all | group:TÊN | MÃ,MÃ,…")],
    lead: Annotated[str | None, typer.Option("--lead", help="mã đơn vị chủ trì")] = None,
    signed: Annotated[bool, typer.Option("--signed", help="bắt buộc PDF có ký số")] = False,
    letter: Annotated[str | None, typer.Option("--letter", help="số công văn, ví dụ 2146/UBND-NV")] = None,
    template: Annotated[str | None, typer.Option("--template", help="biểu mẫu, ví dụ «Phụ lục 1»")] = None,
    every: Annotated[str | None, typer.Option("--every", help="định kỳ: monthly | quarterly | half-yearly | "
                                                              "yearly; khi đó --deadline là quy tắc, ví dụ «ngày 20 "
                                                              "tháng cuối quý»")] = None,
    period: Annotated[str | None, typer.Option("--period", help="kỳ đầu tiên, ví dụ «Quý I/2027»; mặc định kỳ "
                                                                "hiện tại")] = None,
    data_offset: Annotated[int, typer.Option("--data-offset", help="kỳ số liệu lệch bao nhiêu tháng so với kỳ "
                                                                   "báo cáo, ví dụ -1: quý I lấy số liệu 01/12 "
                                                                   "năm trước đến 28/02")] = 0,
    count: Annotated[bool, typer.Option("--count", help="đơn vị báo cáo số lượng (đã hoàn thành / được giao) "
                                                        "thay cho tệp")] = False,
    count_with_file: Annotated[bool, typer.Option("--count-with-file", help="báo cáo số lượng kèm tệp")] = False,
    count_total: Annotated[int | None, typer.Option("--count-total", min=1, help="số được giao cho mỗi đơn vị, "
                                                                                 "khi như nhau")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="không hỏi lại khi hạn đã qua")] = False,
) -> None:
    """Tạo nhiệm vụ và giao cho từng đơn vị (hoặc nhiệm vụ định kỳ với --every)."""
    from handlers.texts import due
    from schedules.deadlines import DeadlineError, parse_deadline
    from storage.queries import UnknownUnits, create_task, find_or_create_letter, resolve_units, unit_by_code
    from storage.roster import clean

    title = clean(title)
    if not title:
        fail("Tên nhiệm vụ (--title) không được để trống.")

    if every is None and (period is not None or data_offset):
        fail("--period và --data-offset chỉ dùng cho nhiệm vụ định kỳ (thêm --every quarterly …).")
    if count and count_with_file:
        fail("Chọn một trong --count (thay cho tệp) hoặc --count-with-file (kèm tệp).")
    if count_total is not None and not (count or count_with_file):
        fail("--count-total chỉ dùng cùng --count hoặc --count-with-file.")
    count_mode = "count" if count else "count+file" if count_with_file else None

    async def work(app: App) -> str:
        now = app.clock.now()
        tz = app.settings.tz
        if every is not None:
            return await _recurring_add(app, title=title, rule=deadline, units=units, lead=lead, signed=signed,
                                        letter=letter, template=template, every=every, period=period,
                                        data_offset=data_offset, count_mode=count_mode, count_total=count_total)
        try:
            parsed = parse_deadline(deadline, now.astimezone(tz).date(), tz)
        except DeadlineError as exc:
            fail(str(exc))
        if parsed.due_at <= now and not yes and not confirm(
                f"Hạn {due(parsed.phrase, parsed.due_at, tz)} đã qua (hôm nay là {now.astimezone(tz):%d/%m/%Y}). "
                "Vẫn tạo nhiệm vụ này?"):
            fail("Chưa tạo nhiệm vụ. Hãy kiểm tra lại hạn (--deadline), hoặc thêm --yes nếu đúng là hạn đã qua.")
        async with app.db.session() as session:
            try:
                assignees = await resolve_units(session, units)
            except UnknownUnits as exc:
                fail(f"Không tạo được nhiệm vụ: {exc}. Xem: dondoc roster list")
            lead_unit = await unit_by_code(session, lead) if lead else None
            if lead and lead_unit is None:
                fail(f"Không có đơn vị chủ trì mã «{lead}».")
            if not assignees:
                fail("Không có đơn vị nào được giao.")
            letter_row = await find_or_create_letter(session, number=letter, now=now)
            task, assignments = await create_task(
                session, title=title, due_at=parsed.due_at, deadline_phrase=parsed.phrase, units=assignees,
                now=now, lead=lead_unit, signature_required=signed, letter=letter_row, template=template)
            task.count_mode, task.count_total = count_mode, count_total
            asked = {"count": "\nĐơn vị báo cáo số lượng (đã hoàn thành / được giao) thay cho tệp: /tiendo 12/15.",
                     "count+file": "\nĐơn vị nộp tệp và báo cáo số lượng: /tiendo 12/15."}.get(count_mode or "", "")
            return (f"Đã tạo nhiệm vụ #{task.id}: {title}\nHạn: {due(parsed.phrase, parsed.due_at, tz)}\n"
                    f"Giao cho {len(assignments)} đơn vị.{asked}")

    typer.echo(with_app(work))


async def _recurring_add(app: App, *, title: str, rule: str, units: str, lead: str | None, signed: bool,
                         letter: str | None, template: str | None, every: str, period: str | None,
                         data_offset: int, count_mode: str | None = None, count_total: int | None = None) -> str:
    from handlers.recurring import describe_new, make_recurring
    from schedules.recurrence import RecurrenceError
    from storage.queries import UnknownUnits, find_or_create_letter, resolve_units, unit_by_code

    now, tz = app.clock.now(), app.settings.tz
    async with app.db.session() as session:
        try:
            assignees = await resolve_units(session, units)
        except UnknownUnits as exc:
            fail(f"Không tạo được nhiệm vụ: {exc}. Xem: dondoc roster list")
        lead_unit = await unit_by_code(session, lead) if lead else None
        if lead and lead_unit is None:
            fail(f"Không có đơn vị chủ trì mã «{lead}».")
        try:
            letter_row = await find_or_create_letter(session, number=letter, now=now)
            new = await make_recurring(
                session, title=title, every=every, rule=rule, period=period, data_offset=data_offset,
                units=assignees, now=now, tz=tz, actor="cli:task add", lead=lead_unit, signature_required=signed,
                letter=letter_row, template=template, count_mode=count_mode, count_total=count_total)
        except RecurrenceError as exc:
            await session.rollback()
            fail(f"Không tạo được nhiệm vụ định kỳ, chưa ghi gì. {exc}")
        return describe_new(new, tz)


@task_cli.command("series")
def task_series() -> None:
    """In các nhiệm vụ định kỳ (đang chạy và đã dừng)."""
    from handlers.recurring import describe_series
    from storage.series import list_series

    async def work(app: App) -> list[str]:
        async with app.db.session() as session:
            found = await list_series(session)
        return [describe_series(s, app.settings.tz) for s in found] or ["Chưa có nhiệm vụ định kỳ nào."]

    typer.echo("\n".join(with_app(work)))


@task_cli.command("stop")
def task_stop(
    series: Annotated[int, typer.Argument(help="số của nhiệm vụ định kỳ (xem: dondoc task series)")],
    reason: Annotated[str, typer.Option("--reason", help="lý do dừng")],
) -> None:
    """Dừng một nhiệm vụ định kỳ: không mở thêm kỳ mới; các kỳ đã mở giữ nguyên (ghi nhật ký)."""
    from handlers.recurring import describe_series
    from storage.series import SeriesProblem, stop_series

    async def work(app: App) -> str:
        async with app.db.session() as session:
            try:
                stopped = await stop_series(session, series, reason=reason, now=app.clock.now(), actor="cli:task stop")
            except SeriesProblem as exc:
                fail(f"Không dừng được: {exc}")
            return describe_series(stopped, app.settings.tz)

    typer.echo(with_app(work))


@task_cli.command("list")
def task_list() -> None:
    """In các nhiệm vụ và hạn nộp."""
    from handlers.texts import due
    from storage.queries import list_tasks

    async def work(app: App) -> list[str]:
        async with app.db.session() as session:
            tasks = await list_tasks(session)
        if not tasks:
            return ["Chưa có nhiệm vụ nào."]
        return [f"#{t.id} {t.title}\n    Hạn: {due(t.deadline_phrase, t.due_at, app.settings.tz)}"
                + ("  · ký số" if t.signature_required else "") for t in tasks]

    typer.echo("\n".join(with_app(work)))


@letter_cli.command("import")
def letter_import(
    file: Annotated[Path, typer.Argument(help="công văn: .docx, .pdf (có lớp chữ) hoặc .txt",
                                         exists=True, dir_okay=False, readable=True)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="chỉ xem bản đề xuất, không ghi gì")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="in kết quả dạng JSON")] = False,
) -> None:
    """Đọc công văn, đề xuất nhiệm vụ (hạn, đơn vị, chủ trì) rồi tạo các nhiệm vụ đủ hạn và đơn vị."""
    import json

    from handlers.letters import (LetterDraft, LetterError, SavedLetter, check_size, extract_letter, read_letter,
                                  render_draft, roster_refs, save_draft, skip_reason)
    from handlers.texts import due

    nothing = "Không nhập được công văn, chưa ghi gì vào cơ sở dữ liệu."
    try:
        check_size(file.stat().st_size)
    except LetterError as exc:
        fail(f"{nothing} {exc}")

    read: dict[str, str] = {}

    async def work(app: App) -> tuple[LetterDraft, SavedLetter | None]:
        text = read["text"] = await read_letter(app.ctx.letters, file.read_bytes(), file.name,
                                                owner="cli")  # parsed in the sandbox
        now = app.clock.now()
        tz = app.settings.tz
        async with app.db.session() as session:
            units = await roster_refs(session)
            if not units:
                fail(f"{nothing} Chưa có danh sách đơn vị; nhập trước: dondoc roster import …")
            draft = extract_letter(text, units, now.astimezone(tz).date(), tz)
            if dry_run:
                return draft, None
            return draft, await save_draft(session, draft, now=now, source_text=text, actor="cli:letter import")

    try:
        draft, saved = with_app(work)
    except LetterError as exc:
        fail(f"{nothing} {exc}")
    text = read["text"]
    tz = settings_or_exit().tz
    created = [(task, row) for task, row in saved.created] if saved else []
    skipped = saved.skipped if saved else [(t, skip_reason(t)) for t in draft.tasks if skip_reason(t)]
    if as_json:
        payload = draft.to_json() | {
            "dry_run": dry_run,
            "created": [{"id": row.id, "title": row.title} for _, row in created],
            "skipped": [{"title": task.title, "item": task.item, "reason": reason} for task, reason in skipped],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        typer.echo(render_draft(draft, tz))
        from handlers.recurring import recurrence_hint_lines

        for line in recurrence_hint_lines(text):  # a periodic report: propose a recurring task
            typer.echo(line)
        typer.echo("")
        if dry_run:
            ready = sum(1 for t in draft.tasks if not skip_reason(t))
            typer.echo(f"Chạy thử: chưa ghi gì. Bỏ --dry-run để tạo {ready} nhiệm vụ đủ hạn và đơn vị.")
        for task, row in created:
            typer.echo(f"✅ Đã tạo nhiệm vụ #{row.id}: {row.title}\n    Hạn: {due(row.deadline_phrase, row.due_at, tz)}"
                       f" · {len(task.units)} đơn vị")
        if skipped:
            typer.echo(f"Bỏ qua {len(skipped)} nhiệm vụ (tạo bằng tay khi cần: dondoc task add …):")
            for task, reason in skipped:
                typer.echo(f"  - {task.title}" + (f" [mục {task.item}]" if task.item else "") + f": {reason}")
    if not dry_run and not created:
        fail("Không tạo được nhiệm vụ nào từ công văn này (cần có hạn và đơn vị nhận).")


# --- the office's calendar -------------------------------------------------------------------


def _calendar_set(day_text: str, kind: str, reason: str) -> None:
    from handlers.calendar_view import render_override_saved
    from schedules.office_calendar import parse_day
    from storage.calendar_days import set_override

    try:
        day = parse_day(day_text)
    except ValueError as exc:
        fail(f"Không ghi gì. {exc}")
    if not reason.strip():
        fail("Không ghi gì. Cần ghi lý do: --reason «…».")

    async def work(app: App) -> str:
        async with app.db.session() as session:
            await set_override(session, day, kind, reason, actor="cli:calendar", now=app.clock.now())
        await app.refresh_calendar()
        return render_override_saved(day, kind, reason, app.calendar)

    typer.echo(with_app(work))


@calendar_cli.command("off")
def calendar_off(
    day: Annotated[str, typer.Argument(help="ngày, «DD/MM/YYYY» hoặc «YYYY-MM-DD»")],
    reason: Annotated[str, typer.Option("--reason", help="lý do, ví dụ số quyết định nghỉ")],
) -> None:
    """Đặt một ngày là ngày nghỉ của cơ quan (ghi nhật ký)."""
    _calendar_set(day, "off", reason)


@calendar_cli.command("work")
def calendar_work(
    day: Annotated[str, typer.Argument(help="ngày, «DD/MM/YYYY» hoặc «YYYY-MM-DD»")],
    reason: Annotated[str, typer.Option("--reason", help="lý do, ví dụ làm bù theo thông báo số …")],
) -> None:
    """Đặt một ngày là ngày làm việc (làm bù) của cơ quan (ghi nhật ký)."""
    _calendar_set(day, "work", reason)


@calendar_cli.command("show")
def calendar_show(year: Annotated[str, typer.Argument(help="năm, ví dụ 2026")]) -> None:
    """In các ngày nghỉ và ngày làm bù của một năm, kèm nguồn."""
    from handlers.calendar_view import render_year

    if not year.strip().isdigit() or not 1900 <= int(year) <= 2100:
        fail(f"Năm «{year}» không hợp lệ; viết một năm từ 1900 đến 2100, ví dụ 2026.")
    year = int(year)

    async def work(app: App) -> str:
        return render_year(year, app.office_calendar.year(year))

    typer.echo(with_app(work))


# --- the evidence bundle -------------------------------------------------------------------------


def parse_task_number(text: str | None) -> int | None:
    """``#12`` or ``12``; exits with a Vietnamese message for anything else."""
    if text is None:
        return None
    raw = text.strip().lstrip("#")
    if not raw.isdigit() or int(raw) == 0:
        fail(f"Số nhiệm vụ «{text}» không hợp lệ; viết như #12. Xem: dondoc task list")
    return int(raw)


@export_cli.command("bundle")
def export_bundle(
    task: Annotated[str | None, typer.Option("--task", help="chỉ một nhiệm vụ, ví dụ #12")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="chỉ một đơn vị (mã)")] = None,
    out: Annotated[Path | None, typer.Option("--out", dir_okay=False, help="tệp .zip ghi ra; mặc định "
                                                                           "DATA_DIR/exports/minh-chung-….zip")] = None,
) -> None:
    """Gói minh chứng đã duyệt: tệp zip, mỗi đơn vị một thư mục, kèm bảng kê Excel (SHA-256, chữ ký, hạn)."""
    from handlers.bundle import BundleFilterError, bundle_name, bundle_rows, summary, write_bundle

    task_id = parse_task_number(task)

    async def work(app: App) -> tuple[Path, str]:
        now, tz = app.clock.now(), app.settings.tz
        async with app.db.session() as session:
            try:
                rows = await bundle_rows(session, task_id=task_id, unit_code=unit)
            except BundleFilterError as exc:
                fail(f"Không xuất được: {exc}")
        if not rows:
            fail("Chưa có minh chứng nào được duyệt khớp điều kiện lọc; không ghi tệp nào.")
        target = out or app.settings.data_dir / "exports" / bundle_name(now, tz, task_id=task_id, unit_code=unit)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        result = await asyncio.to_thread(write_bundle, rows, app.store, partial, tz=tz, now=now)
        partial.replace(target)
        return target, summary(result)

    target, text = with_app(work)
    typer.echo(f"{text}\nĐã ghi: {target}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()

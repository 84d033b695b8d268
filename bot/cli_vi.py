"""The ``dondoc`` command line in Vietnamese: usage, help and error messages of every command.

Typer (0.2x) ships its own copy of Click with the English texts written in place (no gettext
catalogue to fill), so the texts are translated where they are written out:

- help and usage go through ``VietnameseFormatter`` (headings, ``Usage:``, metavars, ``[required]``,
  ``[default: …]``, the ``--help`` option), set as the formatter of every context;
- errors (a bad value, a missing option, an unknown command …) are shown by the root group's ``main``
  with the message translated by ``translate`` (Click's and pydantic's own wording, which Typer uses to
  check values).

``VietnameseGroup`` is the root group's class; it puts the Vietnamese context on every command of the
tree when it runs, so commands and sub-apps added later are covered without doing anything. Rich's
help panels are switched off on the root Typer (``rich_markup_mode=None``): plain text, translated.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from typer import Abort
from typer.core import TyperGroup

try:  # Typer 0.2x carries its own copy of Click
    from typer._click.core import Context, HelpFormatter
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older Typer on Click itself
    from click import Context, HelpFormatter
    from click.exceptions import ClickException, NoArgsIsHelpError, UsageError

Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]


def _rules(pairs: Sequence[tuple[str, str | Callable[[re.Match[str]], str]]]) -> list[Rule]:
    return [(re.compile(pattern, re.S), replacement) for pattern, replacement in pairs]


def _value(match: re.Match[str], group: int = 1) -> str:
    return translate(match.group(group))


# Whole messages first (an error may wrap another: "Invalid value for X: <reason>"), then reasons.
MESSAGES: list[Rule] = _rules([
    (r"^Invalid value for (.+?): (.*)$", lambda m: f"Giá trị không hợp lệ cho {m.group(1)}: {_value(m, 2)}"),
    (r"^Invalid value: (.*)$", lambda m: f"Giá trị không hợp lệ: {_value(m)}"),
    (r"^Missing option (.+?)\.(?: (.*))?$", lambda m: f"Thiếu tuỳ chọn {m.group(1)}." + (
        f" {translate(m.group(2))}" if m.group(2) else "")),
    (r"^Missing argument (.+?)\.(?: (.*))?$", lambda m: f"Thiếu tham số {m.group(1)}." + (
        f" {translate(m.group(2))}" if m.group(2) else "")),
    (r"^Missing parameter:? ?(.*?)\.?$", r"Thiếu tham số \1."),
    (r"^Missing command\.$", "Thiếu lệnh: hãy chọn một lệnh trong danh sách."),
    (r"^No such command '(.+?)'\.(?: Did you mean (.+)\?)?$",
     lambda m: f"Không có lệnh «{m.group(1)}»." + (f" Có phải ý bạn là {m.group(2)}?" if m.group(2) else "")),
    (r"^No such option: (\S+)(?: \(Possible options: (.+)\))?$",
     lambda m: f"Không có tuỳ chọn {m.group(1)}." + (f" Có thể ý bạn là: {m.group(2)}." if m.group(2) else "")),
    (r"^No such option: (\S+)\s+Did you mean (.+)\?$", r"Không có tuỳ chọn \1. Có phải ý bạn là \2?"),
    (r"^Option '(.+?)' requires an argument\.$", r"Tuỳ chọn '\1' cần một giá trị."),
    (r"^Option '(.+?)' requires (\d+) arguments\.$", r"Tuỳ chọn '\1' cần \2 giá trị."),
    (r"^Option '(.+?)' does not take a value\.$", r"Tuỳ chọn '\1' không nhận giá trị."),
    (r"^Argument '(.+?)' takes (\d+) values\.$", r"Tham số '\1' cần \2 giá trị."),
    (r"^Got unexpected extra argument(?:s|\(s\))? \((.*)\)$", r"Thừa tham số: \1."),
    (r"^Could not open file '(.+?)': (.*)$", lambda m: f"Không mở được tệp «{m.group(1)}»: {_value(m, 2)}"),
    # the reasons, from Typer's value checks (Click wording) and pydantic's
    (r"^(?:file|File|path|Path|directory|Directory) '(.+)' does not exist\.$", r"«\1» không tồn tại."),
    (r"^(?:file|File|path|Path) '(.+)' is a directory\.$", r"«\1» là một thư mục, không phải tệp."),
    (r"^(?:directory|Directory|path|Path) '(.+)' is a file\.$", r"«\1» là một tệp, không phải thư mục."),
    (r"^(?:file|File|path|Path|directory|Directory) '(.+)' is not readable\.$", r"không đọc được «\1»."),
    (r"^(?:file|File|path|Path|directory|Directory) '(.+)' is not writable\.$", r"không ghi được vào «\1»."),
    (r"^Input should be a valid integer.*$", "phải là một số nguyên."),
    (r"^Input should be a valid number.*$", "phải là một số."),
    (r"^Input should be a valid boolean.*$", "phải là có hoặc không (true / false)."),
    (r"^Input should be a valid date.*$", "phải là một ngày, dạng YYYY-MM-DD."),
    (r"^Input should be a valid datetime.*$", "phải là một thời điểm, dạng YYYY-MM-DD HH:MM."),
    (r"^Input should be greater than or equal to (.+)$", r"phải lớn hơn hoặc bằng \1."),
    (r"^Input should be less than or equal to (.+)$", r"phải nhỏ hơn hoặc bằng \1."),
    (r"^Input should be greater than (.+)$", r"phải lớn hơn \1."),
    (r"^Input should be less than (.+)$", r"phải nhỏ hơn \1."),
    (r"^Input should be (.+)$", lambda m: "phải là " + m.group(1).replace(" or ", " hoặc ") + "."),
    (r"^String should have at most (\d+) characters?$", r"dài tối đa \1 ký tự."),
    (r"^String should have at least (\d+) characters?$", r"dài ít nhất \1 ký tự."),
    (r"^Value (.+) is not a valid (.+)\.$", r"\1 không phải \2 hợp lệ."),
    (r"^(.+) is not one of (.+)\.$", r"\1 không phải một trong: \2."),
    (r"^Value must be an iterable\.$", "phải là một danh sách."),
])

# Words of the help screens (whole strings, or pieces inside a help line).
WORDS = {
    "Usage:": "Cách dùng:",
    "Options": "Tuỳ chọn",
    "Arguments": "Tham số",
    "Commands": "Lệnh",
    "Show this message and exit.": "Hiện hướng dẫn này rồi thoát.",
    "[OPTIONS]": "[TUỲ_CHỌN]",
    "COMMAND [ARGS]...": "LỆNH [THAM_SỐ]...",
    "Aborted!": "Đã dừng.",
}
PIECES: list[Rule] = _rules([
    (r"\[required\]", "[bắt buộc]"),
    (r"\[default: (.*?)\]", r"[mặc định: \1]"),
    (r"\[env var: (.*?)\]", r"[biến môi trường: \1]"),
    (r"\(dynamic\)", "(tuỳ lúc chạy)"),
    (r"\(deprecated\)", "(không còn dùng)"),
    (r"<int range>|<int>|<integer>", "<số>"),
    (r"<float range>|<float>", "<số>"),
    (r"<str>|<text>", "<chữ>"),
    (r"<path>|<file>|<filename>", "<tệp>"),
    (r"<datetime>", "<thời điểm>"),
    (r"<bool>", "<có/không>"),
    (r"\[OPTIONS\]", "[TUỲ_CHỌN]"),
    (r"COMMAND \[ARGS\]\.\.\.", "LỆNH [THAM_SỐ]..."),
])


def translate(message: str) -> str:
    """A message of the command line in Vietnamese (unknown ones are returned as they are)."""
    message = message.strip()
    for pattern, replacement in MESSAGES:
        match = pattern.match(message)
        if match:
            return replacement(match) if callable(replacement) else match.expand(replacement)
    return WORDS.get(message, message)


def translate_pieces(text: str) -> str:
    text = WORDS.get(text.strip(), text)
    for pattern, replacement in PIECES:
        text = pattern.sub(replacement, text)  # type: ignore[arg-type]
    return text


class VietnameseFormatter(HelpFormatter):
    """Click's help formatter with its own words in Vietnamese."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, translate_pieces(args), prefix="Cách dùng: " if prefix is None else prefix)

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        with super().section(WORDS.get(name, name)):
            yield

    def write_heading(self, heading: str) -> None:
        super().write_heading(WORDS.get(heading, heading))

    def write_dl(self, rows: Sequence[tuple[str, str]], *args: Any, **kwargs: Any) -> None:
        super().write_dl([(translate_pieces(term), translate_pieces(help_text)) for term, help_text in rows],
                         *args, **kwargs)


class VietnameseContext(Context):
    formatter_class = VietnameseFormatter


def _localise(command: Any) -> None:
    command.context_class = VietnameseContext
    for sub in getattr(command, "commands", {}).values():
        _localise(sub)


def show_error(error: ClickException) -> None:
    """What Click's ``show`` prints, in Vietnamese: the usage line, where to find help, the error."""
    if isinstance(error, UsageError) and error.ctx is not None:
        ctx = error.ctx
        typer.echo(ctx.get_usage(), err=True)
        if ctx.command.get_help_option(ctx) is not None:
            typer.echo(f"Xem hướng dẫn: {ctx.command_path} {ctx.help_option_names[0]}", err=True)
        typer.echo("", err=True)
    typer.echo(f"Lỗi: {translate(error.format_message())}", err=True)


class VietnameseGroup(TyperGroup):
    """The root group: every command under it speaks Vietnamese (help, usage, errors)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        _localise(self)
        try:
            result = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                  standalone_mode=False, **extra)
        except NoArgsIsHelpError as error:  # no arguments: the (translated) help, as Click does
            if not standalone_mode:
                raise
            typer.echo(error.format_message(), err=True)
            sys.exit(error.exit_code)
        except ClickException as error:
            if not standalone_mode:
                raise
            show_error(error)
            sys.exit(error.exit_code)
        except Abort:
            if not standalone_mode:
                raise
            typer.echo(WORDS["Aborted!"], err=True)
            sys.exit(1)
        if not standalone_mode:
            return result
        # Without standalone mode Typer returns the exit code of ``typer.Exit``; commands return None.
        sys.exit(result if isinstance(result, int) else 0)

"""Turn an official letter (công văn) into draft tasks: read the file, find its parts, propose tasks.

One module per stage, in the order a letter goes through them:

- ``reading``: the bytes of a ``.txt`` / ``.docx`` / ``.pdf`` file (parsed in the sandbox,
  ``storage.letterfile``), or a paste, to text (``LetterError``).
- ``header``: number, date, place, subject, recipients ("Kính gửi"); where the body starts; without a
  dated header, number and date from a title line or the body's sentence issuing the letter (the
  letter's own year, for deadlines written without one).
- ``items``: the body cut into paragraphs and numbered items, sub-items, bullets.
- ``units``: the roster's names, aliases and group words, and finding units (and their roles) in text.
- ``deadlines``: the deadline phrases in the body (``schedules.deadlines``: dates, times of day) and the
  span of text each one governs.
- ``drafting``: the proposed tasks (``extract_letter``): who, lead, title, templates, signature.
- ``rendering``: the draft in Vietnamese for the coordinator (``render_draft``).
- ``saving``: the checked draft into the database (``roster_refs``, ``save_draft``).
- ``text``: folding and tokens shared by all of them.

Everything except ``roster_refs`` and ``save_draft`` is pure: no database, no network, no clock.
"""

from handlers.letters.drafting import (
    DELIVERABLE_LIMIT,
    NO_DEADLINE,
    NO_UNITS,
    PREFIX_LIMIT,
    TITLE_LIMIT,
    DraftTask,
    LetterDraft,
    extract_letter,
)
from handlers.letters.reading import (
    MAX_DOCX_UNPACKED_BYTES,
    MAX_LETTER_BYTES,
    MAX_PDF_PAGES,
    LetterError,
    check_size,
    letter_text,
    paste_text,
    read_letter,
)
from handlers.letters.rendering import draft_json, render_draft
from handlers.letters.saving import SavedLetter, roster_refs, save_draft, skip_reason
from handlers.letters.units import DEFAULT_GROUP_WORDS, ISSUER_KINDS, GroupWord, UnitRef

__all__ = [
    "DEFAULT_GROUP_WORDS", "DELIVERABLE_LIMIT", "ISSUER_KINDS", "MAX_DOCX_UNPACKED_BYTES", "MAX_LETTER_BYTES",
    "MAX_PDF_PAGES", "NO_DEADLINE", "NO_UNITS", "PREFIX_LIMIT", "TITLE_LIMIT", "DraftTask", "GroupWord",
    "LetterDraft", "LetterError", "SavedLetter", "UnitRef", "check_size", "draft_json", "extract_letter",
    "letter_text", "paste_text", "read_letter", "render_draft", "roster_refs", "save_draft", "skip_reason",
]

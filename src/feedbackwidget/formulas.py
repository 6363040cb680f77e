"""Which CSV cells a spreadsheet could run as a formula: the rule, defined once.

A text cell is *neutralised* (written with a leading ``'``, which spreadsheets
show as text) when it starts with a tab or carriage return, or when its first
character that is not blank is one of ``= + - @`` or their full-width forms
(U+FF1D, U+FF0B, U+FF0D, U+FF20). "Blank" is every character a reader would not see before the
formula: Unicode white space (``str.isspace``), format characters (category
Cf: zero-width space and joiners, the byte order mark, bidirectional marks)
and the Hangul and Braille fillers. The starting set follows OWASP's "CSV
Injection" guidance; skipping what is blank closes the ``" =cmd"`` and
``"\\u200b=cmd"`` variants that some spreadsheets trim or a reader cannot see.

The Python encoder (:func:`needs_prefix`, used by ``export.csv_cell``) and
both stores' SQL (:func:`sql_needs_prefix`, used where the database writes the
export lines) are generated from the constants below, so they cannot drift;
tests/test_formulas.py holds all three to one table of cells.
"""

from __future__ import annotations

from typing import Literal

#: What starts a formula once blanks are skipped.
FORMULA_CHARS = "=+-@\uff1d\uff0b\uff0d\uff20"
#: What is neutralised in first place even when the rest is harmless (a tab or CR
#: can shift a cell or hide what follows).
ALWAYS_FIRST = "\t\r"
_FILLERS = "\u115f\u1160\u3164\uffa0\u2800"


#: Code point ranges (inclusive) of Unicode white space and format characters (Cf), as of
#: Unicode 14 (Python 3.11's ``unicodedata``), written out because computing them costs a quarter
#: of a second at import; tests/test_formulas.py recomputes them from the running Python.
BLANK_RANGES: tuple[tuple[int, int], ...] = (
    (0x0009, 0x000D), (0x001C, 0x0020), (0x0085, 0x0085), (0x00A0, 0x00A0), (0x00AD, 0x00AD),
    (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891),
    (0x08E2, 0x08E2), (0x1680, 0x1680), (0x180E, 0x180E), (0x2000, 0x200F), (0x2028, 0x202F),
    (0x205F, 0x2064), (0x2066, 0x206F), (0x3000, 0x3000), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)

#: Every character skipped before looking for a formula character.
BLANKS = "".join(chr(c) for low, high in BLANK_RANGES for c in range(low, high + 1)) + _FILLERS
assert "'" not in BLANKS and "\x00" not in BLANKS  # safe inside an SQL string literal


def needs_prefix(text: str) -> bool:
    """Whether the CSV cell ``text`` must be written with a leading ``'``."""
    if not text:
        return False
    if text[0] in ALWAYS_FIRST or text[0] in FORMULA_CHARS:
        return True
    if text[0] not in BLANKS:
        return False
    rest = text.lstrip(BLANKS)
    return rest != "" and rest[0] in FORMULA_CHARS


def sql_needs_prefix(column: str, dialect: Literal["sqlite", "postgresql"]) -> str:
    """An SQL condition true exactly when :func:`needs_prefix` is true of ``column``'s text.

    NULL and the empty string give false or NULL (both take a ``CASE``'s ``ELSE``).
    The costly ``ltrim`` runs only on cells that start with a blank, the search of the blanks only
    on cells that do not start with a digit or an ASCII letter.
    """
    code = "unicode" if dialect == "sqlite" else "ascii"  # both: the first code point
    find = "instr" if dialect == "sqlite" else "strpos"
    first = ", ".join(str(ord(c)) for c in ALWAYS_FIRST + FORMULA_CHARS)
    formula = ", ".join(str(ord(c)) for c in FORMULA_CHARS)
    # A digit or an ASCII letter first (or one of [ \\ ] ^ _ `: codes 48-57 and 65-122), as almost
    # every id is, settles it at once: none is blank, a formula character, tab or CR.
    plain = f"{code}({column}) BETWEEN 48 AND 57 OR {code}({column}) BETWEEN 65 AND 122"
    return (
        f"(NOT ({plain}) AND ({code}({column}) IN ({first}) OR "
        f"({find}('{BLANKS}', substr({column}, 1, 1)) > 0 "
        f"AND {code}(ltrim({column}, '{BLANKS}')) IN ({formula}))))"
    )

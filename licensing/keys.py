"""Table Storage keys.

PartitionKey and RowKey may not contain ``/ \\ # ?`` or control characters
(U+0000-U+001F, U+007F-U+009F), and are at most 1 KiB. Each key field is
either restricted by its own syntax (GUIDs, domain names, product names that
are X++ identifiers) or, for serial numbers, percent-encoded so that any
printable serial still works.
"""

from __future__ import annotations

import re
import unicodedata

# Characters Table Storage forbids in keys, and "%" so that encoding is
# reversible.
_ESCAPED = re.compile(r"[/\\#?%\x00-\x1f\x7f-\x9f]")

# Characters Table Storage forbids in keys.
_FORBIDDEN = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")

GUID = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")

# X++ enum element names: the product name equals one.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,80}$")

# A DNS name of at least two labels, such as contoso.com.
DOMAIN = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# Unicode categories no identifier or name needs: control, format (such as
# U+200B and U+202E), surrogate, private use, unassigned, line and paragraph
# separators. Lone surrogates also cannot be encoded as UTF-8.
_UNPRINTABLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def printable(value: str, allow_newlines: bool = False) -> bool:
    """Return True if ``value`` holds only visible characters and spaces."""
    for character in value:
        if allow_newlines and character in "\r\n\t":
            continue
        if unicodedata.category(character) in _UNPRINTABLE:
            return False

    return True


def is_valid_key(value: str) -> bool:
    """Return True if Table Storage accepts ``value`` as a PartitionKey or RowKey.

    NOTE: checks the characters only, not the 1 KiB limit.
    """
    return _FORBIDDEN.search(value) is None


def encode(value: str) -> str:
    """Percent-encode the characters that Table Storage forbids in keys."""
    return _ESCAPED.sub(lambda m: f"%{ord(m.group()):02X}", value)


def decode(key: str) -> str:
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), key)


def product_key(publisher_id: str, product_name: str) -> str:
    """Row key of a product within a publisher, or of a license."""
    return f"{publisher_id.lower()}|{product_name.lower()}"

"""``DUBAN_FILE_MODE``'s value: the mode of the files duban creates, as ``0600``, ``600``, ``0o600`` or an int.

A setting's parser, so it lives with the settings; ``duban.store.files`` applies the mode.
"""

from __future__ import annotations


def parse_mode(value: object) -> int:
    """``0600``, ``600``, ``0o600`` or an int → the mode; the owner must keep read and write."""
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    else:
        text = str(value).strip().lower().removeprefix("0o")
        if not text or any(c not in "01234567" for c in text):
            raise ValueError(f"file mode {value!r} is not an octal mode such as 0600 or 0640")
        mode = int(text, 8)
    if not 0 <= mode <= 0o777:
        raise ValueError(f"file mode {value!r} is not an octal mode such as 0600 or 0640")
    if mode & 0o600 != 0o600:
        raise ValueError(f"file mode {value!r} must let duban read and write its own files (owner rw, 06xx)")
    return mode

"""Addresses from the unit directory are checked before they reach a header: one mailbox, no tricks."""

from __future__ import annotations

import pytest

from duban.notifications.recipients import clean_address


@pytest.mark.parametrize("address", ["fupin@example.org", "office.head@example.org", "a+b@sub.example.org"])
def test_a_plain_mailbox_is_kept(address: str) -> None:
    assert clean_address(address) == address


@pytest.mark.parametrize("address", [
    "fupin@example.org\r\nBcc: everyone@example.org",   # header injection by CR/LF
    "fupin@example.org\nBcc: everyone@example.org",
    "Eve <eve@example.org>",                            # a display name smuggled in
    "<script>@example.org",
    "a@example.org, b@example.org",                     # two mailboxes in one
    "a@example.org; b@example.org",
    "\"quoted\"@example.org",
    "no-at-sign.example.org",
    "two@@example.org",
    "",
    "fupin@",
])
def test_anything_else_is_refused(address: str) -> None:
    assert clean_address(address) is None

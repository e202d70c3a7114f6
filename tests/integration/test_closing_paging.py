"""The closing queue a page at a time on SQLite and PostgreSQL: pending requests first (oldest first), then
decided ones (latest first), ``limit``/``offset`` taking one page of that order and the count all of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from duban.matrix.errors import Refused
from duban.store.evidence import EvidenceStore
from duban.workflows.closing_service import (
    count_closing_requests,
    list_closing_requests,
    request_closing,
    return_request,
)
from duban.workflows.matrix_service import PlanOptions, import_file
from tests.support import PLANS, at


def test_pages_follow_the_queue_order_and_the_count_takes_the_same_filters(engine, tmp_path: Path) -> None:
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    store = EvidenceStore(tmp_path / "evidence", max_bytes=1000)
    ids = []
    for n, (task, unit) in enumerate([("3.2.1", "區交委")] * 4 + [("3.2.2", "區水務局")]):
        made = request_closing(engine, task=task, unit=unit, note=str(n), now=at(2015, 12, 20), store=store)
        ids.append(made["id"])
        if n < 3:  # 3.2.1's first three are returned, its fourth and 3.2.2's stay pending
            return_request(engine, request_id=made["id"], reason="缺驗收", now=at(2015, 12, 21), actor="lin")
    whole = [r["id"] for r in list_closing_requests(engine)]
    assert whole == [ids[3], ids[4], ids[2], ids[1], ids[0]]
    pages = [[r["id"] for r in list_closing_requests(engine, limit=2, offset=o)] for o in (0, 2, 4)]
    assert pages == [whole[0:2], whole[2:4], whole[4:]]
    assert count_closing_requests(engine) == 5 and count_closing_requests(engine, status="returned") == 3
    assert count_closing_requests(engine, task="3.2.2") == 1 and count_closing_requests(engine, plans=["none"]) == 0
    assert [r["id"] for r in list_closing_requests(engine, status="returned", limit=1, offset=1)] == [ids[1]]
    with pytest.raises(Refused, match="status"):
        count_closing_requests(engine, status="lost")

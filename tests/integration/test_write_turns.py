"""SQLite writers of one process take turns (store.db._one_writer_at_a_time): a transaction holds its
engine's write turn from its first write to its commit or rollback — and gives it back however it ends
(committed, rolled back, interrupted mid-statement, its connection returned to the pool)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa


@pytest.fixture
def engine(tmp_path):
    from duban.store.db import make_engine

    e = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with e.begin() as c:
        c.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    yield e
    e.dispose()


def _turn(engine) -> threading.Lock:
    from duban.store.db import WRITE_TURNS

    return WRITE_TURNS[engine]


def test_a_write_holds_the_turn_until_commit_or_rollback_reads_never(engine):
    turn = _turn(engine)
    with engine.connect() as c:
        c.execute(sa.text("SELECT count(*) FROM t")).all()
        assert not turn.locked(), "a read takes no turn"
        c.execute(sa.text("INSERT INTO t VALUES (1)"))
        assert turn.locked()
        c.commit()
        assert not turn.locked()
        c.execute(sa.text("UPDATE t SET x = 2"))
        c.rollback()
        assert not turn.locked()
        c.execute(sa.text("DELETE FROM t"))
    assert not turn.locked(), "returned to the pool without commit: given back"


def test_an_interrupt_inside_a_write_gives_the_turn_back(engine):
    turn = _turn(engine)

    def interrupt(*_args):
        raise KeyboardInterrupt

    sa.event.listen(engine, "after_cursor_execute", interrupt)
    try:
        with pytest.raises(KeyboardInterrupt), engine.begin() as c:
            c.execute(sa.text("INSERT INTO t VALUES (1)"))
    finally:
        sa.event.remove(engine, "after_cursor_execute", interrupt)
    assert not turn.locked()
    with engine.begin() as c:  # the next writer goes at once, and the interrupted insert is not there
        c.execute(sa.text("INSERT INTO t VALUES (2)"))
        assert c.execute(sa.text("SELECT x FROM t")).scalars().all() == [2]


def test_threads_take_turns_and_every_write_lands(engine):
    writes, errors = 40, []

    def write(k: int) -> None:
        try:
            for i in range(writes):
                with engine.begin() as c:
                    c.execute(sa.text("INSERT INTO t VALUES (:x)"), {"x": k * 1000 + i})
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM t")).scalar_one() == 8 * writes
    assert not _turn(engine).locked()

"""The sequential-halving schedule of Gumbel MuZero's root, against the issue's sequence and
mctx's published ``seq_halving_test`` expectations."""
import pytest

from heurist.agents.search import get_sequence_of_considered_visits, sequential_halving_schedule
from heurist.agents.search.seq_halving import considered_visits_table


def test_issue_sequence_m4_n16():
    """m = 4, n = 16 gives 0,0,0,0,1,1,1,1,2,2,3,3,4,4,5,5 (issue 10)."""
    assert sequential_halving_schedule(4, 16) == (0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5)


@pytest.mark.parametrize("m, n, expected", [
    (8, 24, [0] * 8 + [1] * 4 + [2] * 4 + [3, 3, 4, 4, 5, 5, 6, 6]),  # mctx: min sims
    (8, 2, [0, 0]),  # mctx: fewer simulations than actions
    (8, 13, [0] * 8 + [1] * 4 + [2]),  # mctx: less than m log2 m
    (7, 24, [0] * 7 + [1, 1, 1, 2, 2, 2] + [3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8]),  # mctx: m not 2^k
    (1, 5, [0, 1, 2, 3, 4]),  # one considered action takes every visit
    (2, 5, [0, 0, 1, 1, 2]),
])
def test_mctx_sequences(m, n, expected):
    """The schedules of mctx's seq_halving tests (and the one- and two-action cases)."""
    assert get_sequence_of_considered_visits(m, n) == tuple(expected)


def test_each_schedule_visits_m_actions_equally_first():
    """Every action among the m considered gets its first visit before any gets a second."""
    seq = sequential_halving_schedule(16, 200)
    assert seq[:16] == (0,) * 16 and seq[16] == 1


def test_table_rows_are_the_schedules():
    """Row m of the table is the schedule for m considered actions; it is cached read-only."""
    table = considered_visits_table(4, 16)
    assert table.shape == (5, 16)
    assert tuple(table[4]) == sequential_halving_schedule(4, 16)
    assert tuple(table[3]) == (0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6)
    assert considered_visits_table(4, 16) is table and not table.flags.writeable


def test_negative_arguments_raise():
    """A negative m or n is a ValueError naming both."""
    with pytest.raises(ValueError, match="m=-1"):
        sequential_halving_schedule(-1, 4)

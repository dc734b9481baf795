"""The `league` command line's own flags: where they go, and errors that name them."""

from __future__ import annotations

import pytest

from league.commands.cli import build_parser, main


def test_verbose_works_after_the_subcommand_too():
    parse = build_parser().parse_args
    assert parse(["train", "tictactoe", "-v"]).verbose is True
    assert parse(["games", "--verbose"]).verbose is True
    assert parse(["-v", "train", "tictactoe"]).verbose is True  # before it, as ever
    assert parse(["train", "tictactoe"]).verbose is False


@pytest.mark.parametrize(
    "flag,value,key",
    [
        ("--iterations", "-3", "train.iterations"),
        ("--seed", "-1", "seed"),
        ("--workers", "-2", "train.workers"),
        ("--envs-per-worker", "0", "train.envs"),
    ],
)
def test_a_bad_flag_value_is_reported_against_that_flag(tmp_path, capsys, flag, value, key):
    code = main(["train", "tictactoe", "--runs-dir", str(tmp_path), flag, value])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"league: error: {flag} {value}: key '{key}'"), err
    assert "--set" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "tictactoe").exists()


def test_a_bad_flag_value_on_resume_is_reported_against_that_flag(c4_run, capsys):
    code = main(["train", "--resume", str(c4_run), "--iterations", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("league: error: --iterations 0: key 'train.iterations'")

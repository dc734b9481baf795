from __future__ import annotations

import pytest

from conftest import CONFIGS
from league.config import ConfigError, load_config, parse_config
from league.game_config import resolve_game


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_configs_load_and_name_a_game(path):
    config = load_config(path)
    assert config.name == path.stem
    assert resolve_game(config).info().agents


def test_unknown_key_is_named_with_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  iterations: 3\n  itterations: 4\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert "train.itterations" in str(err.value)


def test_bad_value_is_named_with_key_and_value(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  envs: lots\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert str(path) in msg and "train.envs" in msg and "'lots'" in msg


def test_out_of_range_values_are_refused():
    with pytest.raises(ConfigError, match="league.p_latest"):
        parse_config({"league": {"p_latest": 1.5}}, source="x.yaml")
    with pytest.raises(ConfigError, match="gamma.end"):
        parse_config({"gamma": {"start": 0.9, "end": 1.01}}, source="x.yaml")
    # Undiscounted (poker pays at the end), but no horizon 1 / (1 - gamma) to interpolate.
    assert parse_config({"gamma": {"start": 1.0, "end": 1.0}}, source="x.yaml").gamma.end == 1.0
    with pytest.raises(ConfigError, match="gamma.end.*horizon"):
        parse_config(
            {"gamma": {"start": 0.9, "end": 1.0, "interpolation": "horizon"}}, source="x.yaml"
        )
    with pytest.raises(ConfigError, match="tau.start"):
        parse_config({"reward": {"tau": {"start": -0.1, "end": 0.5}}}, source="x.yaml")


def test_async_mode_and_fragments_are_checked(tmp_path):
    config = parse_config({"train": {"async": True, "fragment_length": 64}}, source="x.yaml")
    assert config.train.asynchronous and config.train.fragment_length == 64
    assert parse_config({}, source="x.yaml").train.asynchronous is False
    # The saved config keeps the spelling a user writes, and loads again.
    from league.config import dump_config

    path = tmp_path / "saved.yaml"
    path.write_text(dump_config(config))
    assert "async: true" in path.read_text() and load_config(path).train.asynchronous
    with pytest.raises(ConfigError, match="train.async needs Ray rollout workers"):
        load_config(path, ["train.workers=0"])
    with pytest.raises(ConfigError, match="max_staleness 0 would drop every fragment"):
        parse_config({"train": {"async": True, "max_staleness": 0}}, source="x.yaml")
    with pytest.raises(ConfigError, match="train.fragment_length"):
        parse_config({"train": {"fragment_length": 0}}, source="x.yaml")


def test_precision_is_checked():
    assert parse_config({}, source="x.yaml").precision == "auto"
    assert parse_config({"precision": "float32"}, source="x.yaml").precision == "float32"
    with pytest.raises(ConfigError, match="precision.*'fp16'"):
        parse_config({"precision": "fp16"}, source="x.yaml")


def test_learning_rate_is_a_number_or_a_schedule():
    config = parse_config({"learner": {"lr": 0.001}}, source="x.yaml")
    assert config.learner.lr == 0.001
    lr = parse_config(
        {"learner": {"lr": {"start": 0.001, "end": 0.0001, "steps": 50}}}, source="x.yaml"
    ).learner.lr
    assert (lr.start, lr.end, lr.steps) == (0.001, 0.0001, 50)
    with pytest.raises(ConfigError, match=r"x.yaml: key 'learner'.*lr must be > 0, got -1"):
        parse_config({"learner": {"lr": {"start": 0.1, "end": -1}}}, source="x.yaml")
    with pytest.raises(ConfigError, match=r"unknown key 'learner.lr.stepz'"):
        bad = {"start": 0.1, "end": 0.1, "stepz": 1}
        parse_config({"learner": {"lr": bad}}, source="x.yaml")
    with pytest.raises(ConfigError, match=r"key 'learner.lr'.*'fast'"):
        parse_config({"learner": {"lr": "fast"}}, source="x.yaml")


def test_schedules_default_to_the_algorithm_and_the_old_spelling_still_loads():
    assert parse_config({}, source="x").learner.schedules() == (2.5e-4, 0.01)
    # Runs saved when the schedules were PPO settings keep resuming.
    old = parse_config(
        {"learner": {"ppo": {"lr": 0.002, "ent_coef": 0.0, "epochs": 3}}}, source="x"
    )
    assert old.learner.schedules() == (0.002, 0.0)
    assert old.learner.ppo.epochs == 3


def test_a_settings_block_for_another_algorithm_is_refused():
    with pytest.raises(ConfigError, match=r"learner.trpo is given but learner.algo is 'ppo'"):
        parse_config({"learner": {"algo": "ppo", "ppo": {}, "trpo": {}}}, source="x")
    with pytest.raises(ConfigError, match=r"unknown key 'learner.ppo.delta'"):
        parse_config({"learner": {"ppo": {"delta": 0.1}}}, source="x")


def test_entropy_bonus_is_a_number_or_a_schedule():
    ent = parse_config(
        {"learner": {"ent_coef": {"start": 0.01, "end": 0.0, "steps": 9}}}, source="x"
    ).learner.ent_coef
    assert (ent.start, ent.end, ent.steps) == (0.01, 0.0, 9)
    with pytest.raises(ConfigError, match=r"ent_coef must be >= 0, got -0.5"):
        parse_config({"learner": {"ent_coef": -0.5}}, source="x.yaml")


def test_overrides_apply_and_unknown_override_keys_fail(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("game: {name: tictactoe_v3}\n")
    config = load_config(path, ["train.iterations=7", "gamma.start=0.9", "gamma.end=0.95"])
    assert config.train.iterations == 7 and config.gamma.start == 0.9
    with pytest.raises(ConfigError, match="train.nope"):
        load_config(path, ["train.nope=1"])
    with pytest.raises(ConfigError, match="key.path=value"):
        load_config(path, ["train.iterations"])


def test_unknown_game_names_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("game: {name: chess_v99}\n")
    with pytest.raises(ConfigError, match="game.name.*chess_v99"):
        resolve_game(load_config(path), source=str(path))


def test_bot_shares_are_checked():
    lg = parse_config({"league": {"bots": {"random": 0.25}}}, source="x.yaml").league
    assert lg.bots == {"random": 0.25}
    with pytest.raises(ConfigError, match=r"league.*bots.random must be a share in \[0, 1\]"):
        parse_config({"league": {"bots": {"random": 1.5}}}, source="x.yaml")
    with pytest.raises(ConfigError, match="sum to 1.2"):
        parse_config({"league": {"bots": {"random": 0.6, "scripted": 0.6}}}, source="x.yaml")
    with pytest.raises(ConfigError, match=r"league.bots.*'mini max' is not a bot"):
        parse_config({"league": {"bots": {"mini max": 0.1}}}, source="x.yaml")
    # A plain word may name one of the game's bots: the game says which exist, before any
    # run directory is made (kuhn poker has no scripted bot; connect four has `tactical`).
    for game, bot in [("kuhn_poker", "scripted"), ("connect_four_v3", "minimax")]:
        config = parse_config(
            {"game": {"name": game}, "league": {"bots": {bot: 0.1}}}, source="t.yaml"
        )
        with pytest.raises(ConfigError, match=f"t.yaml: key 'league.bots'.*no bot called '{bot}'"):
            resolve_game(config, source="t.yaml")
    tactical = parse_config(
        {"league": {"bots": {"tactical": 0.5, "scripted": 0.3}}}, source="t.yaml"
    )
    assert set(resolve_game(tactical, source="t.yaml").named_bots()) == {"scripted", "tactical"}


def test_model_mirror_needs_a_game_with_one_and_a_feed_forward_network():
    assert resolve_game(
        parse_config({"model": {"mirror": True}}, source="m.yaml"), source="m.yaml"
    ).mirror
    tag = parse_config(
        {"game": {"name": "simple_tag_v3"}, "model": {"mirror": True}}, source="m.yaml"
    )
    with pytest.raises(ConfigError, match="m.yaml: key 'model.mirror'.*simple_tag_v3.*no mirror"):
        resolve_game(tag, source="m.yaml")
    with pytest.raises(ConfigError, match="model.*mirror and recurrent cannot be combined"):
        parse_config({"model": {"mirror": True, "recurrent": {"size": 8}}}, source="m.yaml")


def test_a_spatial_action_head_needs_a_board_cnn_and_a_game_that_maps_its_actions():
    spatial = {"kind": "cnn", "action_head": "spatial"}
    assert resolve_game(
        parse_config({"model": spatial}, source="m.yaml"), source="m.yaml"
    ).action_axes == (1,)
    tag = parse_config({"game": {"name": "simple_tag_v3"}, "model": spatial}, source="m.yaml")
    with pytest.raises(ConfigError, match="m.yaml: key 'model.action_head'.*simple_tag_v3"):
        resolve_game(tag, source="m.yaml")
    for model in ({"action_head": "spatial"}, {**spatial, "recurrent": {"size": 8}}):
        with pytest.raises(ConfigError, match="action_head spatial needs kind cnn"):
            parse_config({"model": model}, source="m.yaml")
    with pytest.raises(ConfigError, match="action_head"):
        parse_config({"model": {"action_head": "conv"}}, source="m.yaml")


def test_a_plugged_in_board_game_names_its_action_axes_in_the_config():
    game = {"name": "c4", "env": "pettingzoo.classic.connect_four_v3:env"}
    spatial = {"kind": "cnn", "action_head": "spatial"}
    unnamed = parse_config({"game": game, "model": spatial}, source="m.yaml")
    with pytest.raises(ConfigError, match="key 'model.action_head'.*'c4'.*set game.action_axes"):
        resolve_game(unnamed, source="m.yaml")
    named = parse_config({"game": {**game, "action_axes": [1]}, "model": spatial}, source="m.yaml")
    assert resolve_game(named, source="m.yaml").action_axes == (1,)
    rows = parse_config({"game": {**game, "action_axes": [0]}, "model": spatial}, source="m.yaml")
    with pytest.raises(ConfigError, match="key 'game'.*action_axes \\[0\\] give 6 positions"):
        resolve_game(rows, source="m.yaml")


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    path = tmp_path / "broken.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_set_learner_algo_switches_the_learner_of_any_config():
    config = load_config(CONFIGS / "connect_four.yaml", ["learner.algo=acer"])
    assert config.learner.algo == "acer" and config.learner.ppo is None
    assert config.learner.acer.segment_length == 20  # its own defaults
    # A setting given for another algorithm than the chosen one is still refused.
    with pytest.raises(ConfigError, match="learner.ppo is given but learner.algo is 'trpo'"):
        load_config(CONFIGS / "connect_four.yaml", ["learner.algo=trpo", "learner.ppo.epochs=1"])
    with pytest.raises(ConfigError, match=r"unknown key 'learner.trpo.clip'"):
        load_config(CONFIGS / "connect_four.yaml", ["learner.algo=trpo", "learner.trpo.clip=0.1"])


def test_model_recurrent_is_checked_and_refused_for_acer(tmp_path):
    config = parse_config({"model": {"recurrent": {"kind": "lstm"}}}, source="t.yaml")
    assert config.model.recurrent.size == 256 and config.model.recurrent.chunk_length == 16
    assert parse_config({}, source="t.yaml").model.recurrent is None  # off by default
    with pytest.raises(ConfigError, match=r"t.yaml: key 'model.recurrent.kind'.*'gru'"):
        parse_config({"model": {"recurrent": {"kind": "gru"}}}, source="t.yaml")
    with pytest.raises(ConfigError, match=r"key 'model.recurrent.chunk_length'"):
        parse_config({"model": {"recurrent": {"chunk_length": 0}}}, source="t.yaml")
    path = tmp_path / "r.yaml"
    path.write_text("model:\n  recurrent: {kind: lstm, size: 32}\n")
    assert load_config(path, ["learner.algo=trpo"]).model.recurrent.size == 32
    with pytest.raises(ConfigError) as err:
        load_config(path, ["learner.algo=acer"])
    assert str(err.value) == (
        f"{path}: model.recurrent is set but learner.algo 'acer' cannot train a recurrent "
        "policy (use ppo, trpo, or drop model.recurrent)"
    )


@pytest.mark.parametrize(
    "text", ["", "# nothing set yet\n", "{}\n"], ids=["empty", "comment", "{}"]
)
def test_an_empty_config_file_is_refused_by_name(tmp_path, text):
    # It used to train connect four on the built-in defaults (200 iterations), not the
    # shipped config's.
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="the config file is empty") as err:
        load_config(path, ["train.iterations=5"])
    assert str(err.value).startswith(f"{path}: ")


def test_a_negative_seed_is_a_config_error_not_a_numpy_traceback():
    with pytest.raises(ConfigError, match=r"x.yaml: key 'seed'.*\(got -1\)"):
        parse_config({"seed": -1}, source="x.yaml")
    assert parse_config({"seed": 2**32}, source="x.yaml").seed == 2**32

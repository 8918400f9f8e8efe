import pytest

from search.space import ConfigError, DEFAULT_CONFIG, load_config, space


def test_default_configuration_is_in_the_space():
    default = dict(space().get_default_configuration())
    loaded = load_config({})
    assert default.keys() == loaded.keys()
    assert all(default[key] == pytest.approx(value) for key, value in loaded.items())
    assert load_config({})["learning_rate_init"] == 0.0016651181400389517
    space().get_default_configuration().check_valid_configuration()


def test_missing_keys_take_defaults_and_inactive_widths_are_dropped():
    config = load_config({"n_conv_layers": 1, "n_fc_layers": 1, "n_channels_conv_2": 64})
    assert config["n_channels_conv_0"] == DEFAULT_CONFIG["n_channels_conv_0"]
    assert "n_channels_conv_1" not in config and "n_channels_conv_2" not in config
    assert "n_channels_fc_1" not in config
    assert config["optimizer"] == "adamw"


@pytest.mark.parametrize("raw,key", [
    ({"colour": 1}, "colour"),
    ({"batch_size": "32"}, "batch_size"),
    ({"batch_size": 32.5}, "batch_size"),
    ({"batch_size": 1000}, "batch_size"),
    ({"learning_rate_init": 2.0}, "learning_rate_init"),
    ({"use_BN": 1}, "use_BN"),
    ({"kernel_size": 4}, "kernel_size"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"dropout_rate": None}, "dropout_rate"),
])
def test_bad_values_name_the_key(raw, key):
    with pytest.raises(ConfigError, match=key):
        load_config(raw)


def test_not_an_object():
    with pytest.raises(ConfigError, match="JSON object"):
        load_config([1, 2])


def test_portfolio_entries_are_members_of_the_space():
    from search.space import PORTFOLIO
    for entry in PORTFOLIO:
        config = load_config(entry)
        assert {k: config[k] for k in entry} == entry

"""Configuration from SDX_* variables: embedded defaults, parsing, clear errors."""
from __future__ import annotations

import logging

import pytest

from exchange.core.config import ConfigError, ENV_NAMES, load_config


def test_defaults_are_the_embedded_mode(tmp_path):
    config = load_config({"SDX_VAR_DIR": str(tmp_path)})
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'sdx.db'}"
    assert config["S3_ENDPOINT"] == "" and config["BROKER_URL"] == ""
    assert config["SDX_PORT"] == 5000 and config["PUBLIC_BASE_URL"] == "http://127.0.0.1:5000"


def test_production_values_are_read_and_parsed():
    config = load_config({"SDX_DATABASE_URL": "postgresql+psycopg://u@db/sdx", "SDX_S3_ENDPOINT": "minio:9000",
                          "SDX_S3_SECURE": "true", "SDX_PORT": "8080", "SDX_PUBLIC_BASE_URL": "https://sdx.example/"})
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/sdx"
    assert config["S3_SECURE"] is True and config["SDX_PORT"] == 8080
    assert config["PUBLIC_BASE_URL"] == "https://sdx.example"


def test_bad_values_name_every_variable():
    with pytest.raises(ConfigError) as err:
        load_config({"SDX_S3_SECURE": "maybe", "SDX_PORT": "eighty"})
    assert "SDX_S3_SECURE" in str(err.value) and "SDX_PORT" in str(err.value)


def test_unknown_sdx_variable_is_warned_about(caplog):
    with caplog.at_level(logging.WARNING):
        load_config({"SDX_DATABSE_URL": "typo"})
    assert "SDX_DATABSE_URL" in caplog.text
    assert "SDX_DATABSE_URL" not in ENV_NAMES


def test_settings_command_lists_every_variable(runner):
    output = runner.invoke(args=["sdx", "settings"]).output
    for name in ENV_NAMES:
        assert name in output

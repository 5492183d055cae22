"""Settings: every documented name, and clear errors for bad values."""

import json
from pathlib import Path

import pytest

from licensing.settings import SETTINGS, Settings, SettingsError

ROOT = Path(__file__).resolve().parent.parent


def test_sample_settings_list_every_setting():
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    assert set(SETTINGS) <= set(sample)


def test_readme_lists_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in SETTINGS if f"`{name}`" not in readme]
    assert missing == []


def test_defaults():
    settings = Settings.from_env({})
    assert str(settings.time_zone) == "UTC"
    assert settings.token_lifetime_hours == 168
    assert settings.recheck_hours == 24
    assert settings.table_prefix == ""


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LICENSING_TIME_ZONE", "Mars/Olympus"),
        ("LICENSING_TIME_ZONE", "../../etc/passwd"),
        ("LICENSING_TABLE_PREFIX", "bad-prefix"),
        ("LICENSING_TABLE_PREFIX", "1abc"),
        ("LICENSING_TOKEN_LIFETIME_HOURS", "-1"),
        ("LICENSING_RECHECK_HOURS", "soon"),
    ],
)
def test_bad_value_named_in_error(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})

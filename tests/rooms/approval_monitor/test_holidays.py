"""Provisional holidays from the national rules, checked against a year the State Council has published."""

from __future__ import annotations

from datetime import date

from typer.testing import CliRunner

from approval_monitor.cli import app
from approval_monitor.holidays import china_holidays, provisional_holidays, statutory_days


def test_the_rules_give_a_subset_of_the_official_2026_list_and_the_known_lunar_dates() -> None:
    official, _ = china_holidays([2026])
    guessed = [d for d, _ in provisional_holidays([2026])]
    assert guessed and set(guessed) <= set(official)  # the notice adds bridging days, never removes statutory ones
    days = dict((n, d) for d, n in statutory_days(2027))  # the last of each name
    assert (
        days["春节"] == date(2027, 2, 8) and days["端午节"] == date(2027, 6, 9) and days["中秋节"] == date(2027, 9, 15)
    )
    assert len(statutory_days(2027)) == 13  # 元旦 1, 春节 4, 清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆 3


def test_cn_holidays_marks_a_year_without_a_notice_as_provisional() -> None:
    res = CliRunner().invoke(app, ["rules", "cn-holidays", "2026", "2027"], terminal_width=400)
    assert res.exit_code == 0, res.output
    assert "PROVISIONAL 2027" in res.output and "2027-02-08 春节" in res.output
    assert '"2026-10-01"' in res.output and '"2027-10-01"' in res.output

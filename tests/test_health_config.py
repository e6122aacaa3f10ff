"""Scorecard configuration: bad files fail at start naming the key; custom weights and
per-segment scorecards change scores as configured."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from conftest import D1, load_all, rows_of, score, table, write_delivery

from pipelines.cli import main
from pipelines.scorecards import SCORECARD_DIR, load_scorecard, scorecards_by_segment
from pipelines.settings import ConfigError


def shipped(name: str) -> dict:
    return yaml.safe_load((SCORECARD_DIR / f"{name}.yaml").read_text())


def write_scorecard(tmp_path: Path, data: dict, name: str = "custom.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_shipped_scorecards_load():
    five = load_scorecard("five_dimension")
    four = load_scorecard("four_component")
    assert [d for d, *_ in five.measures()].count("usage") == 3
    assert len(five.measures()) == 16 and len(four.measures()) == 10
    # four_component weighs its measures equally within a dimension
    assert {w for d, _, _, w, _ in four.measures() if d == "relationship"} == {1 / 3}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c["dimensions"]["usage"].update(weight=40),
            "dimensions: weights add up to 110, not 100",
        ),
        (
            lambda c: c["dimensions"]["usage"]["measures"]["login_rate"].update(weight=0.4),
            "dimensions.usage.measures: weights add up to 1.1, not 1",
        ),
        (
            lambda c: c["dimensions"]["usage"]["measures"].update(logins_per_day={"weight": 0}),
            "dimensions.usage.measures.logins_per_day.weight",
        ),
        (
            lambda c: c["dimensions"]["usage"]["measures"]["seat_utilisation"].update(
                window_days=-30
            ),
            "dimensions.usage.measures.seat_utilisation.window_days: must be a positive whole "
            "number of days",
        ),
        (
            lambda c: c["dimensions"]["usage"]["measures"]["login_rate"].pop(
                "expected_logins_per_seat_week"
            ),
            "dimensions.usage.measures.login_rate.expected_logins_per_seat_week: missing",
        ),
        (
            lambda c: c["dimensions"]["usage"]["measures"]["login_rate"].update(window=28),
            "dimensions.usage.measures.login_rate.window: unknown setting for login_rate",
        ),
        (
            lambda c: c["dimensions"]["usage"]["measures"]["seat_utilisation"].update(
                window_days=float("inf")
            ),
            "dimensions.usage.measures.seat_utilisation.window_days: must be a finite number",
        ),
        (
            lambda c: c["dimensions"]["usage"]["measures"]["login_rate"].update(
                expected_logins_per_seat_week=0
            ),
            "dimensions.usage.measures.login_rate.expected_logins_per_seat_week: must be > 0",
        ),
        (
            lambda c: c["dimensions"]["financial"]["measures"]["payment_status"].update(
                within_grace_value=7
            ),
            "dimensions.financial.measures.payment_status.within_grace_value: must be within 0..1",
        ),
        (
            lambda c: c["tiers"].reverse(),
            "tiers: min_score must go down from the first tier to the last",
        ),
        (
            lambda c: c["dimensions"].update(growth=c["dimensions"].pop("financial")),
            "dimensions.growth: unknown dimension",
        ),
    ],
)
def test_bad_scorecard_fails_naming_the_key(tmp_path, change, message):
    config = shipped("five_dimension")
    change(config)
    with pytest.raises(ConfigError) as error:
        load_scorecard(write_scorecard(tmp_path, config))
    assert message in str(error.value)
    assert "custom.yaml" in str(error.value)


def test_unknown_measure_is_named(tmp_path):
    config = shipped("five_dimension")
    config["dimensions"]["usage"]["measures"]["api_calls"] = config["dimensions"]["usage"][
        "measures"
    ].pop("login_rate")
    with pytest.raises(
        ConfigError,
        match=r"dimensions\.usage\.measures\.api_calls: "
        "unknown measure",
    ):
        load_scorecard(write_scorecard(tmp_path, config))


def test_banded_measure_needs_bands_with_points(tmp_path):
    config = shipped("four_component")
    config["dimensions"]["relationship"]["measures"]["executive_sponsor"].pop("bands")
    config["dimensions"]["financial"]["measures"]["payment_history"]["bands"][0]["band"] = "gold"
    with pytest.raises(ConfigError) as error:
        load_scorecard(write_scorecard(tmp_path, config))
    assert (
        "dimensions.relationship.measures.executive_sponsor.bands: this measure is "
        "scored by bands" in str(error.value)
    )
    assert (
        "dimensions.financial.measures.payment_history.bands.0.band: 'gold' has no "
        "points" in str(error.value)
    )


def test_unknown_scorecard_name():
    with pytest.raises(ConfigError, match="unknown scorecard 'six_dimension'.*five_dimension"):
        load_scorecard("six_dimension")


def test_cli_rejects_a_bad_scorecard_in_one_line(tmp_path, capsys, extracts):
    config = shipped("five_dimension")
    config["dimensions"]["usage"]["weight"] = 35
    path = write_scorecard(tmp_path, config)
    write_delivery(extracts, "crm_accounts", D1, rows_of("crm_accounts"))
    code = main(
        [
            "run",
            "--as-of",
            str(D1),
            "--extracts",
            str(extracts),
            "--warehouse",
            str(tmp_path / "wh.duckdb"),
            "--scorecard",
            path,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "dimensions: weights add up to 105, not 100" in err


def book(extracts: Path) -> None:
    """Two accounts: A1 (ARR 12,000: smb) has seats used 4 of 10 and budget confirmed;
    A2 (ARR 120,000: enterprise) has nothing else."""
    write_delivery(
        extracts,
        "crm_accounts",
        D1,
        [
            *rows_of("crm_accounts", account_id="A1", renewal_budget_confirmed="true"),
            *rows_of("crm_accounts", account_id="A2", arr="120000"),
        ],
    )
    write_delivery(
        extracts,
        "product_events",
        D1,
        [
            {
                **rows_of("product_events")[0],
                "event_id": f"E{n}",
                "user_id": f"U{n}",
                "occurred_at": "2026-02-28T12:00:00Z",
            }
            for n in range(4)
        ],
    )


def test_custom_scorecard_weights_change_scores(tmp_path, connection, extracts):
    """usage 50 (seat_utilisation only), financial 50 (renewal_budget only)."""
    config = copy.deepcopy(shipped("five_dimension"))
    config["name"] = "seats_and_budget"
    config["dimensions"] = {
        "usage": {"weight": 50, "measures": {"seat_utilisation": {"weight": 1, "window_days": 30}}},
        "financial": {"weight": 50, "measures": {"renewal_budget": {"weight": 1}}},
    }
    path = write_scorecard(tmp_path, config)
    book(extracts)
    load_all(connection, extracts, D1)
    score(connection, D1, path)
    health = {
        r["account_id"]: r
        for r in table(connection, "SELECT * FROM mart.account_health").to_dicts()
    }
    # A1: 50 * 4/10 + 50 * 1 = 70; A2: 50 * 0 + 50 * 0 = 0
    assert health["A1"]["health_score"] == 70
    assert health["A1"]["scorecard"] == "seats_and_budget"
    assert health["A1"]["tier"] == "at_risk"
    assert health["A2"]["health_score"] == 0
    # the same book on the default scorecard scores differently
    score(connection, D1)
    assert (
        table(
            connection, "SELECT health_score FROM mart.account_health WHERE account_id = 'A1'"
        ).item()
        != 70
    )


def test_scorecard_per_segment(connection, extracts):
    book(extracts)
    load_all(connection, extracts, D1)
    score(connection, D1, "five_dimension", by_segment={"enterprise": "four_component"})
    scorecards = dict(
        table(connection, "SELECT account_id, scorecard FROM mart.account_health ORDER BY 1").rows()
    )
    assert scorecards == {"A1": "five_dimension", "A2": "four_component"}
    measures = table(
        connection,
        "SELECT DISTINCT account_id, measure FROM mart.health_measures WHERE account_id = 'A2'",
    )
    assert set(measures["measure"]) == {
        m for _, m, *_ in load_scorecard("four_component").measures()
    }


def test_two_scorecard_files_with_one_name_are_refused(tmp_path):
    path = write_scorecard(tmp_path, shipped("five_dimension"))
    with pytest.raises(ConfigError, match="two scorecards are named 'five_dimension'"):
        scorecards_by_segment("five_dimension", {"smb": path})


def test_every_measure_has_its_sql_and_every_sql_file_a_measure():
    from importlib import resources

    from pipelines.scorecards import MEASURES

    files = {
        path.name.removesuffix(".sql")
        for path in resources.files("sql").joinpath("measures").iterdir()
        if path.name.endswith(".sql")
    }
    used = {
        definition.sql_file(name).removeprefix("measures/") for name, definition in MEASURES.items()
    }
    assert used == files

"""The `purchases` scenario of the generator: a CDNOW-like orders export and its buy-till-you-die
truth (winback/generate/purchases.py), and the scenario options of `winback generate`."""

import argparse
import csv
import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pytest

from orchestration.cli import main as winback_main
from winback.generate.command import DEFAULTS, add_arguments, resolve
from winback.generate.purchases import ORDERS_FILE, TRUTH_FILE, generate_purchases

START = dt.date(1997, 1, 1)
DAYS = 546
LINE = re.compile(r"^(\d{5}) (\d{8}) +(\d+) +(\d+\.\d\d)$")


def _generate(root: Path, seed: int, customers: int = 2_000) -> tuple[Path, Path]:
    landing, truth = root / "landing", root / "truth"
    generate_purchases(landing, truth, customers=customers, days=DAYS, start=START, seed=seed)
    return landing / ORDERS_FILE, truth / TRUTH_FILE


def _orders(path: Path) -> list[tuple[str, dt.date, int, float]]:
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        assert len(line.split()) == 4, f"line {number}: {line!r}"
        m = LINE.match(line)
        assert m, f"line {number} is not `customer_id YYYYMMDD units amount`: {line!r}"
        day = dt.datetime.strptime(m[2], "%Y%m%d").date()
        rows.append((m[1], day, int(m[3]), float(m[4])))
    return rows


def _truth(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {row["customer_id"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, Path]:
    return _generate(tmp_path_factory.mktemp("small"), seed=3)


def test_same_seed_same_bytes_other_seed_other_data(tmp_path, small):
    orders, truth = _generate(tmp_path / "again", seed=3)
    assert orders.read_bytes() == small[0].read_bytes()
    assert truth.read_bytes() == small[1].read_bytes()
    other_orders, other_truth = _generate(tmp_path / "other", seed=4)
    assert other_orders.read_bytes() != orders.read_bytes()
    assert other_truth.read_bytes() != truth.read_bytes()


def test_orders_look_like_the_cdnow_export(small):
    orders, _ = small
    assert orders.read_text().startswith("00001 1997")  # no header, padded ids, YYYYMMDD
    rows = _orders(orders)
    assert [(r[0], r[1]) for r in rows] == sorted((r[0], r[1]) for r in rows)
    per_customer = Counter(r[0] for r in rows)
    assert sorted(per_customer) == [f"{i:05d}" for i in range(1, 2_001)]  # each bought >= once
    one_time = sum(n == 1 for n in per_customer.values()) / len(per_customer)
    assert 0.35 < one_time < 0.65
    assert min(r[1] for r in rows) >= START
    assert max(r[1] for r in rows) <= START + dt.timedelta(days=DAYS - 1)
    first = {}
    for customer, day, _units, _amount in rows:
        first.setdefault(customer, day)
    assert max(first.values()) < START + dt.timedelta(days=90)  # acquired in the first quarter
    assert all(r[2] >= 1 and r[3] > 0 for r in rows)


def test_truth_agrees_with_the_orders(small):
    orders, truth_path = small
    rows, truth = _orders(orders), _truth(truth_path)
    dates: dict[str, list[dt.date]] = {}
    for customer, day, _units, _amount in rows:
        dates.setdefault(customer, []).append(day)
    assert set(truth) == set(dates)
    dead = 0
    for customer, t in truth.items():
        days = dates[customer]
        assert int(t["purchases"]) == len(days), customer
        assert int(t["purchase_days"]) == len(set(days)), customer
        assert dt.date.fromisoformat(t["first_purchase_date"]) == days[0], customer
        assert dt.date.fromisoformat(t["last_purchase_date"]) == days[-1], customer
        assert (t["alive_at_end"] == "false") == (t["stopped_date"] != ""), customer
        assert t["alive_at_end"] in ("true", "false")
        assert float(t["lambda_per_day"]) > 0 and 0 < float(t["p_dropout"]) < 1
        if t["stopped_date"]:
            dead += 1
            assert max(days) <= dt.date.fromisoformat(t["stopped_date"]), customer
            assert dt.date.fromisoformat(t["stopped_date"]) == days[-1], customer
            assert t["purchases_next_365_days"] == "0", customer
            assert len(days) >= 2, customer  # BG/NBD: no dropout right after the first purchase
    assert 0.1 < dead / len(truth) < 0.6


def test_default_size_has_the_shape_of_cdnow(tmp_path):
    summary = generate_purchases(tmp_path / "landing", tmp_path / "truth")
    assert (summary.start, summary.end) == (START, dt.date(1998, 6, 30))
    assert summary.customers == 23_570
    assert abs(summary.purchases - 69_659) < 0.15 * 69_659
    lines = (tmp_path / "landing" / ORDERS_FILE).read_text().count("\n")
    assert lines == summary.purchases
    assert 0.4 < summary.one_time_share < 0.6


def test_the_command_line_writes_only_the_orders_file(tmp_path, capsys):
    landing, truth = tmp_path / "landing", tmp_path / "truth"
    (landing / "users").mkdir(parents=True)
    (landing / "users" / "users.csv").write_text("an earlier product run\n")
    (landing / "notes.md").write_text("not the generator's\n")
    argv = ["generate", "--scenario", "purchases", "--customers", "500"]
    assert winback_main([*argv, "--landing-dir", str(landing), "--truth-dir", str(truth)]) == 0
    assert "Generated 500 customers" in capsys.readouterr().out
    written = sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file())
    assert written == ["notes.md", ORDERS_FILE]
    assert [p.name for p in truth.iterdir()] == [TRUTH_FILE]
    assert len(_truth(truth / TRUTH_FILE)) == 500

    refused = [*argv, "--dirty-share", "0.1", "--landing-dir", str(landing)]
    assert winback_main(refused) == 2
    assert "--dirty-share applies only to --scenario product" in capsys.readouterr().out


def _resolved(*argv: str) -> dict:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return resolve(parser.parse_args(argv))


def test_scenario_defaults_apply_only_to_options_not_given():
    product = DEFAULTS["product"]
    assert _resolved() == {
        "users": product["users"],
        "days": product["days"],
        "start": dt.date.fromisoformat(product["start"]),
        "seed": 42,
        "dirty_share": product["dirty_share"],
        "events_format": product["events_format"],
    }
    assert _resolved("--scenario", "purchases") == {
        "users": 23_570,
        "days": DAYS,
        "start": START,
        "seed": 42,
    }
    assert _resolved("--scenario", "purchases", "--users", "10", "--days", "30")["users"] == 10
    assert _resolved("--scenario", "purchases", "--days", "30")["days"] == 30
    assert _resolved("--start", "2024-01-31", "--months", "1")["days"] == 29
    assert _resolved("--scenario", "purchases", "--start", "1998-01-01")["days"] == 546
    with pytest.raises(ValueError, match="--start must be a date"):
        _resolved("--scenario", "purchases", "--start", "1997/01/01")
    with pytest.raises(ValueError, match="--events-format applies only"):
        _resolved("--scenario", "purchases", "--events-format", "csv")

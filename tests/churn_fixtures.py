"""The purchases scenario's orders as a DataFrame, for the churn tests."""

from pathlib import Path

import pandas as pd

from winback.generate.purchases import ORDERS_FILE, generate_purchases


def purchase_orders(root: Path, customers: int = 3_000, seed: int = 42) -> pd.DataFrame:
    """`orders.txt` of `winback generate --scenario purchases` as user_id / activity_date /
    amount rows."""
    generate_purchases(root / "landing", root / "truth", customers=customers, seed=seed)
    orders = pd.read_csv(
        root / "landing" / ORDERS_FILE,
        sep=r"\s+",
        header=None,
        names=["user_id", "day", "units", "amount"],
        dtype={"user_id": str, "day": str},
    )
    orders["activity_date"] = pd.to_datetime(orders["day"], format="%Y%m%d")
    return orders[["user_id", "activity_date", "amount"]]

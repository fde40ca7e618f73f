"""Steps that query databases."""

from __future__ import annotations

import sqlite3  # expect: SDK107
from sqlite3 import connect as sqlite_connect  # expect: SDK107

import psycopg  # expect: SDK107
import sqlalchemy  # expect: SDK107
import sqlalchemy as sa  # expect: SDK107
from sqlalchemy import create_engine, text  # expect: SDK107

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Step


class Accounts(pa.DataFrameModel):
    """An account."""

    account_id: int


class JoinWarehouse(Step):
    """Pull reference data from the warehouse directly."""

    def run(self, accounts: DataFrame[Accounts]) -> DataFrame[Accounts]:
        """Join account tiers straight from SQL."""
        con = sqlite3.connect("ref.db")  # expect: SDK101
        con2 = sqlite_connect(":memory:")  # expect: SDK101
        engine = create_engine("postgresql://u@h/db")  # expect: SDK101
        engine2 = sa.create_engine("sqlite://")  # expect: SDK101
        engine3 = sqlalchemy.create_engine("sqlite://")  # expect: SDK101
        pg = psycopg.connect("dbname=x")  # expect: SDK101
        tiers = pd.read_sql("select * from tiers", engine)  # expect: SDK101
        more = pd.read_sql_query(text("select 1"), con)  # expect: SDK101
        table = pd.read_sql_table("tiers", engine2)  # expect: SDK101
        accounts.to_sql("seen_accounts", con2, if_exists="append")  # expect: SDK101
        self.log.info("sql", extra={"n": len(tiers) + len(more) + len(table), "e": str(engine3),
                                     "pg": str(pg)})
        return accounts.merge(tiers, on="account_id", how="left")

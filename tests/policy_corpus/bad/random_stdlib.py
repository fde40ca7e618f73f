"""Steps using the random module and other unseeded entropy."""

from __future__ import annotations

import os  # expect: SDK107
import random  # expect: SDK107
import random as rnd  # expect: SDK107
import secrets  # expect: SDK107
import uuid  # expect: SDK107
from random import randint  # expect: SDK107
from random import shuffle as mix  # expect: SDK107

import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step


class Users(pa.DataFrameModel):
    """A user."""

    user_id: int


class AssignBuckets(Step):
    """A/B buckets, drawn the quick way."""

    class Params(Params):
        """Seed."""

        seed: int = 7

    def run(self, users: DataFrame[Users]) -> DataFrame[Users]:
        """Draw buckets."""
        p = random.random()  # expect: SDK104
        bucket = [random.choice("AB") for _ in range(len(users))]  # expect: SDK104
        ids = list(users["user_id"])
        random.shuffle(ids)  # expect: SDK104
        picked = random.sample(ids, k=2)  # expect: SDK104
        random.seed(self.params.seed)  # expect: SDK104
        g = random.gauss(0, 1)  # expect: SDK104
        u = rnd.uniform(0, 1)  # expect: SDK104
        n = randint(0, 10)  # expect: SDK104
        mix(ids)  # expect: SDK104
        r1 = random.Random()  # expect: SDK104
        r2 = random.SystemRandom()  # expect: SDK104
        tag = uuid.uuid4().hex  # expect: SDK104 beyond-docs
        tag1 = uuid.uuid1()  # expect: SDK104|SDK105 beyond-docs
        tok = secrets.token_hex(8)  # expect: SDK104 beyond-docs
        b = os.urandom(4)  # expect: SDK104|SDK101
        jitter = users["user_id"].map(lambda _: random.random())  # expect: SDK104
        seeded = random.Random(self.params.seed)
        self.log.info("draw", extra={"p": p, "picked": picked, "g": g, "u": u, "n": n,
                                     "r": [str(r1), str(r2)], "t": [tag, str(tag1), tok, b.hex()]})
        return users.assign(bucket=bucket, jitter=jitter, s=seeded.random())

"""Steps that talk to the network."""

from __future__ import annotations

import ftplib  # expect: SDK107
import http.client  # expect: SDK107
import smtplib  # expect: SDK107
import socket  # expect: SDK107
import urllib.request  # expect: SDK107
from urllib.request import urlopen as fetch  # expect: SDK107

import httpx  # expect: SDK107
import requests  # expect: SDK107
from requests import Session  # expect: SDK107

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step


class Ips(pa.DataFrameModel):
    """An IP address."""

    ip: str


class GeoLookup(Step):
    """Enrich with a geo API."""

    class Params(Params):
        """Service endpoint."""

        url: str = "https://geo.example.com/lookup"

    def run(self, ips: DataFrame[Ips]) -> DataFrame[Ips]:
        """Look every ip up remotely."""
        r = requests.get(self.params.url, params={"ip": "1.1.1.1"}, timeout=5)  # expect: SDK101
        requests.post(self.params.url, json={"n": len(ips)})  # expect: SDK101
        with Session() as s:  # expect: SDK101
            s.get(self.params.url)  # tolerate: SDK101
        c = httpx.Client()  # expect: SDK101
        h = httpx.get(self.params.url)  # expect: SDK101
        raw = urllib.request.urlopen(self.params.url).read()  # expect: SDK101
        page = fetch("https://example.com").read()  # expect: SDK101
        urllib.request.urlretrieve(self.params.url, "geo.json")  # expect: SDK101
        conn = http.client.HTTPSConnection("example.com")  # expect: SDK101
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # expect: SDK101
        sock2 = socket.create_connection(("example.com", 80))  # expect: SDK101
        name = socket.gethostname()  # expect: SDK101
        ftp = ftplib.FTP("ftp.example.com")  # expect: SDK101 beyond-docs
        smtp = smtplib.SMTP("localhost")  # expect: SDK101 beyond-docs
        geo = pd.read_json(self.params.url)  # expect: SDK101
        self.log.info("geo", extra={"r": r.status_code, "c": str(c), "h": str(h), "raw": len(raw),
                                     "p": len(page), "conn": str(conn), "s": str(sock),
                                     "s2": str(sock2), "n": name, "f": str(ftp), "m": str(smtp),
                                     "g": len(geo)})
        return ips

"""A loopback fake of the U.S. Census Bureau's batch geocoder, as its documentation and
recorded answers describe it.

    POST /geocoder/locations/addressbatch   multipart/form-data: addressFile (a CSV file,
                                            no header, rows "id,street,city,state,zip"),
                                            benchmark (e.g. Public_AR_Current)

It answers 200 with a CSV, every field quoted, rows in an order of its own (not the file's):

    "1","1200 Maple Ave, Torrance, CA, 90501","Match","Exact",
        "1200 MAPLE AVE, TORRANCE, CA, 90501","-118.33,33.87","123456","L"   (one line)
    "2","55 Unknown Rd, Torrance, CA, 90505","No_Match"
    "3","1 Twin St, Torrance, CA, 90501","Tie"

A file of more than 10,000 rows, of 5 MB or more, without `addressFile` or with an unknown
benchmark is refused with 400, as the service does. Seed `places` ({street as sent, any case:
(lon, lat)}) and `ties` (streets with several equal matches); everything else is No_Match.
`fail` (a list of status codes) answers the next requests with those codes; `drop` closes
the next connections without a word. `requests` counts the POSTs, `rows` every row received.

    with FakeCensus({"1200 Maple Ave": (-118.33, 33.87)}) as census:
        config = {..., "geocoder": {"enabled": True, "url": census.url}}
"""

from __future__ import annotations

import csv
import email.parser
import email.policy
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATH = "/geocoder/locations/addressbatch"
BENCHMARKS = {"Public_AR_Current", "Public_AR_Census2020", "4", "2020"}
MAX_ROWS = 10_000
MAX_BYTES = 5 * 1000 * 1000


class FakeCensus:
    def __init__(self, places: dict[str, tuple[float, float]] | None = None,
                 ties: set[str] | None = None) -> None:
        self.places = {k.casefold(): v for k, v in (places or {}).items()}
        self.ties = {t.casefold() for t in ties or ()}
        self.fail: list[int] = []
        self.drop = 0
        self.requests = 0
        self.rows: list[list[str]] = []
        self.batches: list[int] = []  # rows per accepted batch
        self.benchmarks: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{PATH}"

    def __enter__(self) -> FakeCensus:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                fake.requests += 1
                if fake.drop:
                    fake.drop -= 1
                    self.close_connection = True
                    self.connection.close()
                    return
                if fake.fail:
                    self._send(fake.fail.pop(0), b"Service Unavailable")
                    return
                status, answer = fake.answer(self.path, self.headers.get("Content-Type", ""),
                                             body)
                self._send(status, answer)

            def _send(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Disposition", "attachment; filename=GeocodeResults.csv")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    # -- the service ------------------------------------------------------------------------

    def answer(self, path: str, content_type: str, body: bytes) -> tuple[int, bytes]:
        if path.split("?")[0] != PATH:
            return 404, b"Not Found"
        form = _multipart(content_type, body)
        if "addressFile" not in form:
            return 400, b"Missing addressFile"
        if form.get("benchmark", b"").decode() not in BENCHMARKS:
            return 400, b"Invalid benchmark"
        data = form["addressFile"]
        if len(data) >= MAX_BYTES:
            return 400, b"File too large"
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        if len(rows) > MAX_ROWS:
            return 400, b"Too many records: the limit is 10,000"
        self.benchmarks.append(form["benchmark"].decode())
        self.rows += rows
        self.batches.append(len(rows))
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for row in reversed(rows):  # the service's own order, not the file's
            rid, street, city, state, zip_code = (row + [""] * 5)[:5]
            given = f"{street}, {city}, {state}, {zip_code}"
            key = street.casefold()
            if key in self.ties:
                writer.writerow([rid, given, "Tie"])
            elif key in self.places:
                lon, lat = self.places[key]
                exact = "Exact" if street[:1].isdigit() else "Non_Exact"
                writer.writerow([rid, given, "Match", exact, given.upper(), f"{lon},{lat}",
                                 "647235312", "L"])
            else:
                writer.writerow([rid, given, "No_Match"])
        return 200, out.getvalue().encode("utf-8")


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a multipart/form-data body, by name."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    out = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            out[str(name)] = part.get_payload(decode=True) or b""
    return out

"""Google Maps directions for a beat's route, as links and as QR codes to print.

A link is a Maps URL (https://developers.google.com/maps/documentation/urls/get-started):
`https://www.google.com/maps/dir/?api=1&origin=...&destination=...&travelmode=driving
&waypoints=a|b|c`, with the stops in route order. Google documents "up to three waypoints
supported on mobile browsers, and a maximum of nine waypoints supported otherwise", and
URLs of at most 2,048 characters. An officer scans the printed code with a phone, where the
link may open in the browser rather than the Maps app, and a browser drops the waypoints
past the third without a word: so a route is split into legs of at most three waypoints
(five places: where the leg starts, three stops, the stop it ends at), each leg starting
where the one before ended, and a leg whose URL would pass 2,048 characters takes fewer
stops; so does one whose QR code would print too fine to scan (over 412 characters, which
three waypoints of ordinary addresses never reach). The first leg starts at the station.

Only this module imports segno (pure Python; it writes PNG itself, no Pillow).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import segno

DIRECTIONS = "https://www.google.com/maps/dir/"
MAX_WAYPOINTS = 3  # the documented limit on mobile browsers (nine elsewhere)
MAX_URL = 2048  # characters, the documented limit of a Maps URL
# The most a code of version 15 at level M holds: 77 modules, so that in its 1.3-inch square on
# the sheet a module prints at about 0.4 mm, which a phone reads at arm's length.
PRINTED_URL = 412
QR_ERROR = "m"  # recovers about 15% of a smudged or creased code


@dataclass(frozen=True)
class Leg:
    first: int  # 1-based number of the first stop this leg drives to
    last: int  # 1-based number of the stop it ends at
    url: str

    @property
    def label(self) -> str:
        return f"Stop {self.first}" if self.first == self.last else f"Stops {self.first}-{self.last}"


def url(origin: str, places: Sequence[str]) -> str:
    """The Maps URL for driving from `origin` through `places` in order (the last is the
    destination, the others waypoints)."""
    params = {"api": "1", "origin": origin, "destination": places[-1], "travelmode": "driving"}
    if len(places) > 1:
        params["waypoints"] = "|".join(places[:-1])
    return DIRECTIONS + "?" + urlencode(params)


def legs(origin: str, places: Sequence[str], max_waypoints: int = MAX_WAYPOINTS,
         max_url: int = min(MAX_URL, PRINTED_URL)) -> list[Leg]:
    """The route from `origin` through `places` (in order) as legs within the limits. A
    leg that does not fit even without a waypoint (an address of hundreds of characters)
    has no URL ("")."""
    out: list[Leg] = []
    start, at = origin, 0
    while at < len(places):
        take = min(max_waypoints + 1, len(places) - at)
        while take > 1 and len(url(start, places[at:at + take])) > max_url:
            take -= 1
        link = url(start, places[at:at + take])
        out.append(Leg(at + 1, at + take, link if len(link) <= max_url else ""))
        start, at = places[at + take - 1], at + take
    return out


def qr_png(link: str, scale: int = 8) -> bytes:
    """A QR code of `link` as PNG bytes, `scale` pixels a module, with the standard quiet zone."""
    buffer = io.BytesIO()
    segno.make(link, error=QR_ERROR, micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def qr_modules(link: str) -> list[list[bool]]:
    """The dark modules of `link`'s QR code, row by row, without the quiet zone."""
    return [[bool(v) for v in row] for row in segno.make(link, error=QR_ERROR, micro=False).matrix]

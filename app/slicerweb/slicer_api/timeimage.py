"""The `/slicer/timeimage` picture: the current time to 1/100 s inside a dashed border (for latency checks).

As the WebServer module draws it: a 128x32 transparent image, a 5-pixel dashed border in the
requested colour at 80% opacity, and the Unix time as text in #333. It needs no scene, so it is drawn
here (Pillow) for both engines.
"""

from __future__ import annotations

import io
import re

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT, BORDER, DASH = 128, 32, 5, 6
COLOUR = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
DEFAULT_COLOUR = "333"


def parse_colour(text: str) -> tuple[int, int, int] | None:
    """`333`, `#333` or `ff8800` -> (r, g, b); None if it is not 3 or 6 hex digits."""
    match = COLOUR.fullmatch(text.strip())
    if match is None:
        return None
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def time_image_png(colour: tuple[int, int, int], now: float) -> bytes:
    """The PNG: `now` (seconds since the epoch) printed to two decimals."""
    image = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    border = (*colour, 204)
    for x in range(0, WIDTH, 2 * DASH):
        draw.rectangle((x, 0, x + DASH - 1, BORDER - 1), fill=border)
        draw.rectangle((x, HEIGHT - BORDER, x + DASH - 1, HEIGHT - 1), fill=border)
    for y in range(0, HEIGHT, 2 * DASH):
        draw.rectangle((0, y, BORDER - 1, y + DASH - 1), fill=border)
        draw.rectangle((WIDTH - BORDER, y, WIDTH - 1, y + DASH - 1), fill=border)
    font = ImageFont.load_default(size=13)
    draw.text((WIDTH / 2, HEIGHT / 2), f"{now:.2f}", fill=(0x33, 0x33, 0x33, 255), font=font, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()

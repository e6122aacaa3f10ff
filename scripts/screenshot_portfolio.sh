#!/usr/bin/env bash
# Screenshot the portfolio page in headless Chromium, with the network blocked (the page
# must be self-contained), and check the result.
#
#   scripts/screenshot_portfolio.sh [PAGE.html] [OUT.png]
#
# PAGE defaults to the newest data/reports/<date>/portfolio.html (write one with
# `cshealth report portfolio` or `make demo`); OUT to portfolio.png beside it. Installs
# Debian's `chromium` with apt-get when it is missing. Fails when the PNG is blank or the
# page has fewer than MIN_CHARTS (default 3) rendered charts. Not part of `make test`.
set -euo pipefail

cd "$(dirname "$0")/.."
page="${1:-$(ls -1 data/reports/*/portfolio.html 2>/dev/null | sort | tail -n 1 || true)}"
if [[ -z "$page" || ! -f "$page" ]]; then
    echo "screenshot_portfolio: no portfolio page (run: cshealth report portfolio)" >&2
    exit 1
fi
page="$(cd "$(dirname "$page")" && pwd)/$(basename "$page")"
out="${2:-$(dirname "$page")/portfolio.png}"
python="${PYTHON:-python3}"
[[ -x .venv/bin/python ]] && python=.venv/bin/python

browser="$(command -v chromium || command -v chromium-browser || true)"
if [[ -z "$browser" ]]; then
    echo "screenshot_portfolio: installing Debian's chromium" >&2
    sudo=""
    [[ "$(id -u)" != 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
    browser="$(command -v chromium)"
fi

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile"
       --host-resolver-rules="MAP * ~NOTFOUND" --no-first-run --window-size="1280,${SHOT_HEIGHT:-4200}")

# The page as Chromium built it: its charts are <svg> elements inside div.chart.
dom="$("$browser" "${flags[@]}" --dump-dom "file://$page" 2>/dev/null)"
charts="$( (grep -o '<div class="chart" id="chart-[a-z-]*"><svg' <<<"$dom" || true) | wc -l)"
if (( charts < ${MIN_CHARTS:-3} )); then
    echo "screenshot_portfolio: $charts rendered charts in $page, expected ${MIN_CHARTS:-3}" >&2
    exit 1
fi

rm -f "$out"
"$browser" "${flags[@]}" --screenshot="$out" "file://$page" 2>/dev/null || true
[[ -s "$out" ]] || { echo "screenshot_portfolio: Chromium wrote no $out" >&2; exit 1; }

# Blank check: decode the PNG (8-bit RGB/RGBA, what Chromium writes) with the standard
# library and count the pixels that differ from the page background.
"$python" - "$out" <<'PY'
import struct
import sys
import zlib

path = sys.argv[1]
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
position, chunks, header = 8, [], None
while position < len(data):
    length, kind = struct.unpack(">I4s", data[position : position + 8])
    body = data[position + 8 : position + 8 + length]
    if kind == b"IHDR":
        header = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        chunks.append(body)
    position += 12 + length
width, height, depth, colour, _, _, interlace = header
assert depth == 8 and colour in (2, 6) and not interlace, f"unexpected PNG format {header}"
channels = 3 if colour == 2 else 4
stride = width * channels
raw = zlib.decompress(b"".join(chunks))
previous = bytearray(stride)
background, differing = None, 0
for row in range(height):
    kind = raw[row * (stride + 1)]
    line = bytearray(raw[row * (stride + 1) + 1 : (row + 1) * (stride + 1)])
    for i in range(stride):
        left = line[i - channels] if i >= channels else 0
        up, corner = previous[i], previous[i - channels] if i >= channels else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            estimate = left + up - corner
            pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
            predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            line[i] = (line[i] + predictor) & 0xFF
    pixels = bytes(line[:3]) if background is None else None
    background = background or pixels
    differing += sum(
        line[i : i + 3] != background for i in range(0, stride, channels)
    )
    previous = line
share = differing / (width * height)
print(f"{path}: {width}x{height}, {share:.1%} of the pixels differ from the background")
sys.exit(0 if share > 0.01 else f"screenshot_portfolio: {path} is blank")
PY
echo "screenshot_portfolio: $charts charts rendered; screenshot $out"

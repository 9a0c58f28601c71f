"""The CLI contract of `till kiosk --simulate --tour DIR`: a fresh demo shop, every screen walked by
simulated touches and scans offscreen, one PNG per screen and state, exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

# Not imported from appliance.ui.app: importing it opens Kivy's window in this process at its default
# size, before the UI tests' conftest sets theirs.
SCREENS = ("login", "sale", "payment", "returns", "cash", "endofday", "reports", "settings", "pairing")


@pytest.mark.parametrize("size", [(1280, 800), (800, 480)])  # 800x480: the official 7" display
def test_the_tour_walks_every_screen_and_exits_0(tmp_path: Path, size: tuple[int, int]) -> None:
    out = tmp_path / "tour"
    proc = subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(tmp_path / "shop"), "kiosk",
                           "--simulate", "--tour", str(out), "--size", f"{size[0]}x{size[1]}"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "TILLBOX_DATA": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    shots = sorted(p.name for p in out.glob("*.png"))
    assert {name.split("-")[0] for name in shots} == set(SCREENS)
    for state in ("payment-card-terminal.png", "payment-mobilepay-qr.png", "payment-split.png",
                  "endofday-closed.png", "pairing-start.png", "settings-payments.png", "returns-refunded.png",
                  "settings-saft.png"):
        assert state in shots, shots
    for name in shots:  # each a real frame: many colours, not a blank or black window
        with Image.open(out / name) as img:
            assert img.size == size, name
            assert len(img.convert("RGB").getcolors(1 << 20) or []) > 20, name

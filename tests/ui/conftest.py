"""One kiosk per test session, offscreen (Kivy's window is one per process), on a demo shop with
simulated devices. Each test starts logged out with an empty basket; tests check the screen and
the data behind it (through the backend, on the till's own thread)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.ui.driver import prepare

prepare(offscreen=True, size=(1280, 800))


@pytest.fixture(scope="session")
def kiosk_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from appliance.ui.simulate import ensure_demo_shop
    return ensure_demo_shop(tmp_path_factory.mktemp("kiosk") / "shop")


@pytest.fixture(scope="session")
def driver(kiosk_data: Path):
    from appliance.ui.app import TillApp
    from appliance.ui.driver import Driver
    app = TillApp(kiosk_data, kiosk=False)
    d = Driver(app)
    yield d
    d.close()


@pytest.fixture
def kiosk(driver):
    """The driver, logged out, empty basket, no message."""
    app = driver.app
    app.session.new_basket()
    app.session.training = False
    app.training = False
    app.session.cashier = None
    app.clear_message()
    app.show("login")
    driver.settle()
    yield driver
    app.session.new_basket()
    app.session.cashier = None


def query(driver, sql: str, *args):
    """Read the till's database on its own thread."""
    return driver.app.backend.run(lambda t: t.conn.execute(sql, args).fetchall())

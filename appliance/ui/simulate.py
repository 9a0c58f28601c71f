"""`till kiosk --simulate`: a demo shop on simulated devices, so the kiosk runs anywhere."""

from __future__ import annotations

from pathlib import Path


def ensure_demo_shop(data: Path) -> Path:
    """A demo shop with two closed days (ending yesterday), sim devices and favourites."""
    from ..services.demo import run_demo
    from ..services.kiosk import products
    from ..services.products import favourites, set_favourites
    from ..services.till import open_till
    if not (data / "till.db").exists():
        run_demo(data, 2, end_days_ago=1)
    with open_till(data) as till:
        if not favourites(till):  # through the service that owns them: journalled like a manager's
            set_favourites(till, sorted(p.sku for p in products(till) if not p.sku.startswith("W"))[:12],
                           "system")
    return data


def copy_demo_shop(src: Path, dst: Path) -> Path:
    """A copy of a demo shop whose simulated devices (printer, drawer, scanner, labels, terminal) and
    MobilePay simulator live in the copy: the original's sim folder is neither copied nor shared, nor
    is a kiosk session the original was in the middle of (its cashier and basket)."""
    import shutil

    from ..services.devices import set_device, sim_specs
    from ..services.kiosk import set_kiosk_value
    from ..services.mobilepay_setup import set_mobilepay, sim_spec
    from ..services.till import open_till
    from .session import SESSION_KEY
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.fifo", "run", "sim"))
    with open_till(dst) as till:
        for role, spec in sim_specs(dst / "sim").items():
            set_device(till, role, spec, "system")
        set_mobilepay(till, sim_spec(till), "system")
        set_kiosk_value(till, SESSION_KEY, "")
    return dst

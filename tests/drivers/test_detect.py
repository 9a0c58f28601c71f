"""Device detection from udev properties.

No device is plugged in here, so the property dicts are written by hand in the shape
`udevadm info --query=property` prints on a Pi (keys and value formats as udev's usb_id, input_id and
path_id builtins produce them). The vendor:product ids are the ones these models are commonly reported
with (Epson TM-T20III 04b8:0e28, Star TSP143IIIU 0519:0003, Honeywell 1250g 0c2e:0b61, Datalogic in
USB-COM mode 05f9:4204); the Zebra product id and all serial numbers are illustrative. Replace them with
real captures when the hardware is at hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.detect import FoundDevice, classify, detect

USB_PATH = "/devices/platform/axi/1000120000.pcie/1f00200000.usb/xhci-hcd.0/usb1"

EPSON_TM_T20III = {
    "DEVPATH": f"{USB_PATH}/1-1", "DEVNAME": "/dev/bus/usb/001/003", "DEVTYPE": "usb_device",
    "DRIVER": "usb", "PRODUCT": "4b8/e28/100", "TYPE": "0/0/0", "BUSNUM": "001", "DEVNUM": "003",
    "SUBSYSTEM": "usb", "ID_VENDOR": "EPSON", "ID_VENDOR_ENC": "EPSON", "ID_VENDOR_ID": "04b8",
    "ID_MODEL": "TM-T20III", "ID_MODEL_ENC": "TM-T20III", "ID_MODEL_ID": "0e28", "ID_REVISION": "0100",
    "ID_SERIAL": "EPSON_TM-T20III_583834470145680000", "ID_SERIAL_SHORT": "583834470145680000",
    "ID_BUS": "usb", "ID_USB_INTERFACES": ":070102:", "ID_VENDOR_FROM_DATABASE": "Seiko Epson Corp.",
}
STAR_TSP143 = {
    "DEVPATH": f"{USB_PATH}/1-2", "DEVNAME": "/dev/bus/usb/001/004", "DEVTYPE": "usb_device",
    "DRIVER": "usb", "PRODUCT": "519/3/100", "SUBSYSTEM": "usb", "ID_VENDOR": "STAR",
    "ID_VENDOR_ID": "0519", "ID_MODEL": "TSP143IIIU", "ID_MODEL_ID": "0003", "ID_REVISION": "0100",
    "ID_SERIAL": "STAR_TSP143IIIU_2550617061100529", "ID_BUS": "usb", "ID_USB_INTERFACES": ":070102:",
    "ID_VENDOR_FROM_DATABASE": "Star Micronics Co., Ltd",
}
BROTHER_QL_820NWB = {
    "DEVPATH": f"{USB_PATH}/1-3", "DEVNAME": "/dev/bus/usb/001/005", "DEVTYPE": "usb_device",
    "DRIVER": "usb", "PRODUCT": "4f9/209d/100", "SUBSYSTEM": "usb", "ID_VENDOR": "Brother",
    "ID_VENDOR_ID": "04f9", "ID_MODEL": "QL-820NWB", "ID_MODEL_ID": "209d", "ID_REVISION": "0100",
    "ID_SERIAL": "Brother_QL-820NWB_000G9Z123456", "ID_BUS": "usb", "ID_USB_INTERFACES": ":070102:",
    "ID_VENDOR_FROM_DATABASE": "Brother Industries, Ltd",
}
ZEBRA_ZD421 = {
    "DEVPATH": f"{USB_PATH}/1-4", "DEVNAME": "/dev/bus/usb/001/006", "DEVTYPE": "usb_device",
    "DRIVER": "usb", "PRODUCT": "a5f/1a2/100", "SUBSYSTEM": "usb", "ID_VENDOR": "Zebra_Technologies",
    "ID_VENDOR_ID": "0a5f", "ID_MODEL": "ZTC_ZD421-203dpi_ZPL", "ID_MODEL_ID": "01a2",
    "ID_SERIAL": "Zebra_Technologies_ZTC_ZD421-203dpi_ZPL_D4J221301234", "ID_BUS": "usb",
    "ID_USB_INTERFACES": ":070101:", "ID_VENDOR_FROM_DATABASE": "Zebra",
}
HONEYWELL_BY_ID = "/dev/input/by-id/usb-Honeywell_Imaging___Mobility_1250g_13201B0D5E-event-kbd"
HONEYWELL_VOYAGER_EVENT = {
    "DEVPATH": f"{USB_PATH}/1-1.3/1-1.3:1.0/0003:0C2E:0B61.0002/input/input7/event4",
    "DEVNAME": "/dev/input/event4", "SUBSYSTEM": "input", "MAJOR": "13", "MINOR": "68",
    "ID_INPUT": "1", "ID_INPUT_KEY": "1", "ID_INPUT_KEYBOARD": "1", "ID_BUS": "usb",
    "ID_VENDOR": "Honeywell_Imaging___Mobility", "ID_VENDOR_ID": "0c2e", "ID_MODEL": "1250g",
    "ID_MODEL_ID": "0b61", "ID_SERIAL": "Honeywell_Imaging___Mobility_1250g_13201B0D5E",
    "ID_USB_INTERFACES": ":030101:", "ID_USB_INTERFACE_NUM": "00", "ID_USB_DRIVER": "usbhid",
    "ID_PATH": "platform-xhci-hcd.0-usb-0:1.3:1.0",
    "DEVLINKS": f"/dev/input/by-path/platform-xhci-hcd.0-usb-0:1.3:1.0-event-kbd {HONEYWELL_BY_ID}",
}
DATALOGIC_BY_ID = "/dev/serial/by-id/usb-Datalogic_ADC__Inc._Handheld_Barcode_Scanner_S_N_G19A12345-if00"
DATALOGIC_CDC_ACM = {
    "DEVPATH": f"{USB_PATH}/1-1.4/1-1.4:1.0/tty/ttyACM0", "DEVNAME": "/dev/ttyACM0", "SUBSYSTEM": "tty",
    "MAJOR": "166", "MINOR": "0", "ID_BUS": "usb", "ID_VENDOR": "Datalogic_ADC__Inc.", "ID_VENDOR_ID": "05f9",
    "ID_MODEL": "Handheld_Barcode_Scanner", "ID_MODEL_ID": "4204",
    "ID_SERIAL": "Datalogic_ADC__Inc._Handheld_Barcode_Scanner_S_N_G19A12345",
    "ID_USB_INTERFACES": ":020201:0a0000:", "ID_USB_INTERFACE_NUM": "00", "ID_USB_DRIVER": "cdc_acm",
    "DEVLINKS": f"/dev/serial/by-path/platform-xhci-hcd.0-usb-0:1.4:1.0 {DATALOGIC_BY_ID}",
}
LOGITECH_KEYBOARD_EVENT = {
    "DEVPATH": f"{USB_PATH}/1-1.2/1-1.2:1.0/0003:046D:C31C.0001/input/input3/event2",
    "DEVNAME": "/dev/input/event2", "SUBSYSTEM": "input", "ID_INPUT": "1", "ID_INPUT_KEY": "1",
    "ID_INPUT_KEYBOARD": "1", "ID_BUS": "usb", "ID_VENDOR": "Logitech", "ID_VENDOR_ID": "046d",
    "ID_MODEL": "USB_Keyboard", "ID_MODEL_ID": "c31c", "ID_SERIAL": "Logitech_USB_Keyboard",
    "ID_USB_INTERFACES": ":030101:030000:",
    "DEVLINKS": "/dev/input/by-id/usb-Logitech_USB_Keyboard-event-kbd "
                "/dev/input/by-path/platform-xhci-hcd.0-usb-0:1.2:1.0-event-kbd",
}
SANDISK_STICK = {
    "DEVPATH": f"{USB_PATH}/1-1.1", "DEVNAME": "/dev/bus/usb/001/007", "DEVTYPE": "usb_device",
    "DRIVER": "usb", "PRODUCT": "781/5581/100", "SUBSYSTEM": "usb", "ID_VENDOR": "SanDisk",
    "ID_VENDOR_ID": "0781", "ID_MODEL": "Ultra", "ID_MODEL_ID": "5581", "ID_BUS": "usb",
    "ID_USB_INTERFACES": ":080650:",
}


def test_epson_receipt_printer() -> None:
    assert classify(EPSON_TM_T20III) == FoundDevice(
        "receipt_printer", "Epson TM-T20III", {"kind": "usb", "vendor_id": "04b8", "product_id": "0e28"},
        "04b8:0e28 ESC/POS")


def test_star_receipt_printer_with_its_emulation_caveat() -> None:
    found = classify(STAR_TSP143)
    assert found is not None
    assert (found.kind, found.name) == ("receipt_printer", "Star Micronics TSP143IIIU")
    assert found.spec == {"kind": "usb", "vendor_id": "0519", "product_id": "0003"}
    assert "ESC/POS emulation" in found.detail


def test_brother_ql_label_printer() -> None:
    assert classify(BROTHER_QL_820NWB) == FoundDevice(
        "label_printer", "Brother QL-820NWB",
        {"kind": "brother_ql", "target": "usb://0x04f9:0x209d", "model": "QL-820NWB"},
        "04f9:209d Brother QL raster (switch Editor Lite off)")


def test_zebra_label_printer() -> None:
    assert classify(ZEBRA_ZD421) == FoundDevice(
        "label_printer", "Zebra ZTC ZD421-203dpi ZPL",
        {"kind": "zpl", "target": "usb://0a5f:01a2"}, "0a5f:01a2 ZPL")


def test_honeywell_keyboard_wedge_uses_the_by_id_event_kbd_link() -> None:
    assert classify(HONEYWELL_VOYAGER_EVENT) == FoundDevice(
        "scanner", "Honeywell 1250g", {"kind": "evdev", "path": HONEYWELL_BY_ID},
        "0c2e:0b61 keyboard wedge at /dev/input/event4")


def test_datalogic_cdc_acm_is_a_serial_scanner_on_its_by_id_link() -> None:
    assert classify(DATALOGIC_CDC_ACM) == FoundDevice(
        "serial_scanner", "Datalogic Handheld Barcode Scanner", {"kind": "serial", "device": DATALOGIC_BY_ID},
        "05f9:4204 serial (CDC-ACM) at /dev/ttyACM0")


def test_an_ordinary_keyboard_is_not_a_scanner() -> None:
    assert classify(LOGITECH_KEYBOARD_EVENT) is None


def test_a_usb_stick_is_nothing() -> None:
    assert classify(SANDISK_STICK) is None


def test_unknown_vendor_keyboard_named_barcode_scanner_is_a_scanner() -> None:
    by_id = "/dev/input/by-id/usb-NETUM_USB_Barcode_Scanner-event-kbd"
    props = {**LOGITECH_KEYBOARD_EVENT, "ID_VENDOR": "NETUM", "ID_VENDOR_ID": "3118", "ID_MODEL": "USB_Barcode_Scanner",
             "ID_MODEL_ID": "3225", "ID_SERIAL": "NETUM_USB_Barcode_Scanner",
             "DEVLINKS": f"{by_id} /dev/input/by-path/platform-xhci-hcd.0-usb-0:1.2:1.0-event-kbd"}
    found = classify(props)
    assert found is not None
    assert (found.kind, found.spec) == ("scanner", {"kind": "evdev", "path": by_id})
    assert found.name == "NETUM USB Barcode Scanner"


def test_scanner_event_node_without_by_id_falls_back_to_by_path_then_devname() -> None:
    by_path = "/dev/input/by-path/platform-xhci-hcd.0-usb-0:1.3:1.0-event-kbd"
    assert classify({**HONEYWELL_VOYAGER_EVENT, "DEVLINKS": by_path}).spec == {"kind": "evdev", "path": by_path}  # type: ignore[union-attr]
    no_links = {k: v for k, v in HONEYWELL_VOYAGER_EVENT.items() if k != "DEVLINKS"}
    assert classify(no_links).spec == {"kind": "evdev", "path": "/dev/input/event4"}  # type: ignore[union-attr]


def test_the_parent_input_node_and_non_keyboard_nodes_are_skipped() -> None:
    parent = {k: v for k, v in HONEYWELL_VOYAGER_EVENT.items() if k not in ("DEVNAME", "DEVLINKS")}
    assert classify(parent) is None
    hid_pos = {**HONEYWELL_VOYAGER_EVENT, "ID_INPUT_KEYBOARD": "0"}
    assert classify(hid_pos) is None


def test_the_scanner_usb_device_itself_is_not_listed_twice() -> None:
    """Only its event or tty node is a usable scanner; the bare usb_device would be a duplicate."""
    usb_device = {"SUBSYSTEM": "usb", "DEVTYPE": "usb_device", "ID_VENDOR_ID": "0c2e", "ID_MODEL_ID": "0b61",
                  "ID_USB_INTERFACES": ":030101:"}
    assert classify(usb_device) is None


def test_a_plain_usb_serial_adapter_is_not_a_scanner() -> None:
    ftdi = {"SUBSYSTEM": "tty", "DEVNAME": "/dev/ttyUSB0", "ID_BUS": "usb", "ID_VENDOR": "FTDI",
            "ID_VENDOR_ID": "0403", "ID_MODEL": "FT232R_USB_UART", "ID_MODEL_ID": "6001",
            "DEVLINKS": "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0"}
    assert classify(ftdi) is None
    assert classify({"SUBSYSTEM": "tty", "DEVNAME": "/dev/ttyAMA0"}) is None  # the Pi's own UART


def test_brother_office_printer_is_not_a_label_printer() -> None:
    hl_laser = {**BROTHER_QL_820NWB, "ID_MODEL": "HL-L2350DW_series", "ID_MODEL_ID": "0421"}
    assert classify(hl_laser) is None


@pytest.mark.parametrize(("ids", "interfaces", "kind"), [
    ("0416:5011", ":ff0000:", "receipt_printer"),  # known cheap ESC/POS product
    ("0483:5743", ":070102:", "receipt_printer"),
    ("0416:0001", ":070101:", "receipt_printer"),  # unknown product, but a USB printer
    ("0416:0001", ":030101:", None),  # Winbond id on something that is not a printer
    ("0483:5740", ":020201:", None),  # an STM virtual COM port
    ("1d90:2060", ":070102:", "receipt_printer"),  # Citizen
    ("1504:0006", ":070102:", "receipt_printer"),  # Bixolon
    ("1234:5678", ":070101:", "receipt_printer"),  # any other USB printer-class device
])
def test_generic_and_chip_vendor_printers(ids: str, interfaces: str, kind: str | None) -> None:
    vendor, product = ids.split(":")
    props = {"SUBSYSTEM": "usb", "DEVTYPE": "usb_device", "ID_VENDOR_ID": vendor, "ID_MODEL_ID": product,
             "ID_USB_INTERFACES": interfaces, "ID_MODEL": "Printer"}
    found = classify(props)
    assert (found.kind if found else None) == kind
    if found:
        assert found.spec == {"kind": "usb", "vendor_id": vendor, "product_id": product}


def test_bare_uevent_without_udev_database_still_finds_the_printer() -> None:
    bare = {"SUBSYSTEM": "usb", "DEVTYPE": "usb_device", "PRODUCT": "4b8/e28/100", "DEVNAME": "/dev/bus/usb/001/003"}
    found = classify(bare)
    assert found is not None
    assert (found.kind, found.spec) == ("receipt_printer", {"kind": "usb", "vendor_id": "04b8", "product_id": "0e28"})


def test_usb_interfaces_are_not_devices() -> None:
    assert classify({**EPSON_TM_T20III, "DEVTYPE": "usb_interface"}) is None


class FakeDevice:
    def __init__(self, props: dict[str, str]) -> None:
        self.properties = props


class FakeContext:
    """pyudev.Context's list_devices, answering from recorded property dicts."""

    def __init__(self, devices: list[dict[str, str]]) -> None:
        self.devices = devices
        self.queries: list[dict[str, str]] = []

    def list_devices(self, **query: str) -> list[FakeDevice]:
        self.queries.append(query)
        return [FakeDevice(d) for d in self.devices
                if d["SUBSYSTEM"] == query["subsystem"]
                and all(d.get(k) == v for k, v in query.items() if k != "subsystem")]


ALL = [EPSON_TM_T20III, STAR_TSP143, BROTHER_QL_820NWB, ZEBRA_ZD421, HONEYWELL_VOYAGER_EVENT, DATALOGIC_CDC_ACM,
       LOGITECH_KEYBOARD_EVENT, SANDISK_STICK]


def test_detect_classifies_what_udev_lists(tmp_path: Path) -> None:
    context = FakeContext(ALL)
    found = detect(context, chips_dir=str(tmp_path))
    assert context.queries == [{"subsystem": "usb", "DEVTYPE": "usb_device"}, {"subsystem": "input"},
                               {"subsystem": "tty"}]
    assert [(d.kind, d.name) for d in found] == [
        ("receipt_printer", "Epson TM-T20III"), ("receipt_printer", "Star Micronics TSP143IIIU"),
        ("label_printer", "Brother QL-820NWB"), ("label_printer", "Zebra ZTC ZD421-203dpi ZPL"),
        ("scanner", "Honeywell 1250g"), ("serial_scanner", "Datalogic Handheld Barcode Scanner"),
    ]


def test_detect_survives_a_broken_udev(tmp_path: Path) -> None:
    class Broken:
        def list_devices(self, **query: str) -> list[FakeDevice]:
            raise OSError("udev is not running")

    assert detect(Broken(), chips_dir=str(tmp_path)) == []


def test_detect_keeps_devices_found_before_udev_fails(tmp_path: Path) -> None:
    class HalfBroken(FakeContext):
        def list_devices(self, **query: str) -> list[FakeDevice]:
            if query["subsystem"] == "tty":
                raise PermissionError("no access to /sys/class/tty")
            return super().list_devices(**query)

    found = detect(HalfBroken(ALL), chips_dir=str(tmp_path))
    assert [d.kind for d in found] == ["receipt_printer"] * 2 + ["label_printer"] * 2 + ["scanner"]


def test_detect_runs_here_without_raising() -> None:
    found = detect()
    assert isinstance(found, list)
    assert all(isinstance(d, FoundDevice) for d in found)


def test_detect_lists_gpio_chips_by_label(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("drivers.detect.list_gpio_chips", lambda chips_dir: [("/dev/gpiochip0", "pinctrl-rp1", 54)])
    assert detect(FakeContext([SANDISK_STICK])) == [FoundDevice(
        "gpio_chip", "pinctrl-rp1", {"kind": "gpio", "chip": "pinctrl-rp1"},
        "/dev/gpiochip0, 54 lines; choose the drive line")]


def test_detect_keeps_udev_devices_when_gpio_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(chips_dir: str) -> list[tuple[str, str, int]]:
        raise PermissionError("/dev/gpiochip0")

    monkeypatch.setattr("drivers.detect.list_gpio_chips", broken)
    assert [d.name for d in detect(FakeContext([EPSON_TM_T20III]))] == ["Epson TM-T20III"]

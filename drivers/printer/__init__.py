"""Receipt printers (ESC/POS) and label printers (ZPL, Brother QL)."""

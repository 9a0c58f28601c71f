def render_z_pdf(report: dict, shop: dict) -> bytes:
    return b"%PDF-stub"

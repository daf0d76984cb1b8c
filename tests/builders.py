"""Builders every test uses."""

import io
import zipfile


def make_zip(entries: dict[str, str | bytes] | list[tuple], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``{name: content}``, or of ``(name, content[, unix mode])`` tuples for symlinks and devices."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        items = entries.items() if isinstance(entries, dict) else entries
        for item in items:
            name, content, *mode = item
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            if mode:
                info.create_system = 3
                info.external_attr = mode[0] << 16
            zf.writestr(info, content)
    return buffer.getvalue()

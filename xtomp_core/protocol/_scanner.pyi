"""Type stub for the optional C frame scanner (_scanner.c); see FrameParser._parse."""

from collections.abc import Callable

from .frame import Frame

BODY_COMMANDS: tuple[bytes, ...]
NEVER_ESCAPED: tuple[bytes, ...]

def scan(
    buf: bytes,
    pos: int,
    version: int,
    max_frame_size: int,
    max_headers: int,
    max_header_length: int,
    commands: frozenset[bytes],
    frame_type: Callable[[bytes, dict[bytes, bytes], bytes], Frame],
    /,
) -> tuple[Frame | None, int]: ...

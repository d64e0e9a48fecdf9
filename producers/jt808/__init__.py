"""JT/T 808 (2013/2019) codec: framing, messages, decoder/encoder, sub-package reassembly.

Pure code (no I/O); the TCP gateway is :mod:`wastestream.producers.gateway`.
"""

from wastestream.producers.jt808.codec import decode, decode_body, decode_frame, encode, encode_one
from wastestream.producers.jt808.framing import FrameSplitter, Jt808Error, Junk, checksum, escape, unescape
from wastestream.producers.jt808.messages import *  # noqa: F403
from wastestream.producers.jt808.reassembly import Reassembler

__all__ = [
    "FrameSplitter",
    "Jt808Error",
    "Junk",
    "Reassembler",
    "checksum",
    "decode",
    "decode_body",
    "decode_frame",
    "encode",
    "encode_one",
    "escape",
    "unescape",
]

"""ISUP/BICC codec: message and parameter tables shaped like Q.763, one spec for decoding and encoding."""

from sigdiag.codec.isup import (
    EncodeError,
    decode_bytes,
    decode_params,
    decode_payload,
    encode_message,
    param_code,
    reencode,
)
from sigdiag.codec.messages import ANSI_MESSAGES, BICC_MESSAGES, ITU_MESSAGES, MessageSpec, message_table
from sigdiag.codec.names import cause_name

__all__ = [
    "ANSI_MESSAGES",
    "BICC_MESSAGES",
    "ITU_MESSAGES",
    "EncodeError",
    "MessageSpec",
    "cause_name",
    "decode_bytes",
    "decode_params",
    "decode_payload",
    "encode_message",
    "message_table",
    "param_code",
    "reencode",
]

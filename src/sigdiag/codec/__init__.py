"""ISUP/BICC codec: message and parameter tables shaped like Q.763, one spec for decoding and encoding.

Modules: :mod:`~sigdiag.codec.isup` (decode and encode messages), :mod:`~sigdiag.codec.messages` (the
message formats), :mod:`~sigdiag.codec.params` (the parameter codecs), :mod:`~sigdiag.codec.catalogue`
(the parameter table and indicator layouts), :mod:`~sigdiag.codec.names` (value names),
:mod:`~sigdiag.codec.codes` (parameter codes by name), :mod:`~sigdiag.codec.fields` (named fields read
from parameter octets, for calls and rules), :mod:`~sigdiag.codec.templates` (pre-rendered messages for
traffic generators) and :mod:`~sigdiag.codec.message` (the decoded Message).
"""

from sigdiag.codec.isup import (
    EncodeError,
    decode_bytes,
    decode_params,
    decode_payload,
    encode_cic,
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
    "encode_cic",
    "encode_message",
    "message_table",
    "param_code",
    "reencode",
]

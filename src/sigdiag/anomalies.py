"""Named decoding anomalies, in the spirit of Wireshark's expert info.

Decoders never raise on bad input: they attach an :class:`Anomaly` to the frame or message they were
working on and carry on.  The name is a stable dotted identifier (``layer.what``) that rules and users
can match on; ``detail`` is free text for people.  Every name a decoder may emit is listed in
:data:`CATALOGUE` with a one-line description, and a unit test checks that the code emits no other.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATALOGUE", "Anomaly"]


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One thing a decoder could not decode, or found unusual, with the frame it happened in."""

    name: str
    frame: int
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "frame": self.frame, "detail": self.detail}

    def __str__(self) -> str:
        tail = f": {self.detail}" if self.detail else ""
        return f"frame {self.frame}: {self.name}{tail}"


#: Every anomaly name with its meaning.  Keep sorted by layer.
CATALOGUE: dict[str, str] = {
    # capture file
    "pcap.truncated_header": "the file ends inside a record header",
    "pcap.truncated_record": "the file ends inside a record's captured data",
    "pcap.oversized_record": "a record claims more captured bytes than any real frame has (corrupt length)",
    "pcap.snaplen_truncated": "the frame was cut by the snapshot length; upper layers may be incomplete",
    "pcapng.truncated_block": "the file ends inside a pcapng block",
    "pcapng.bad_block_length": "a pcapng block length is too small, unaligned or does not match its trailer",
    "pcapng.unknown_interface": "a packet block names an interface no Interface Description Block defined",
    "pcapng.unsupported_block": "a pcapng block type that carries no packets was skipped",
    "gzip.corrupt": "the gzip stream is corrupt or ends early",
    # link layer
    "link.unsupported_linktype": "no decoder for this link type",
    "link.truncated": "the frame is shorter than its link-layer header",
    "link.unsupported_ethertype": "an Ethernet type that carries no signalling",
    "net.internal_error": "the network-layer decoder failed on this frame (a bug); the frame was skipped",
    # network layer
    "ip.truncated": "the IP header or payload is shorter than its length fields say",
    "ip.bad_header_length": "the IPv4 header length is below 20 octets",
    "ip.fragment_overlap": "IPv4 fragments overlap with different contents",
    "ip.fragment_incomplete": "IPv4 fragments that never completed a datagram",
    "ip.fragment_too_large": "reassembly would exceed 65535 octets",
    "ip.unsupported_protocol": "an IP protocol that carries no signalling",
    "ip.bad_version": "the IP version nibble does not match the link layer's protocol",
    # transport
    "sctp.truncated_chunk": "an SCTP chunk is longer than the packet holds",
    "sctp.bad_chunk_length": "an SCTP chunk length is below its header size",
    "sctp.reassembly_incomplete": "a fragmented SCTP user message never completed",
    "sctp.reassembly_too_large": "a fragmented SCTP user message grew past the size limit",
    "sctp.unknown_ppid": "a DATA chunk whose payload protocol and ports name no known adaptation layer",
    "udp.truncated": "the UDP header or payload is shorter than its length field says",
    "tcp.truncated": "the TCP header is shorter than its data offset says",
    "tcp.gap": "bytes of a TCP stream were never captured; the stream resumes after the gap",
    # SIGTRAN and MTP
    "m3ua.truncated": "an M3UA message is shorter than its header or a parameter says",
    "m3ua.bad_version": "an M3UA message with a version other than 1",
    "m3ua.no_protocol_data": "an M3UA DATA message without a Protocol Data parameter",
    "m2ua.truncated": "an M2UA message is shorter than its header or a parameter says",
    "m2ua.no_protocol_data": "an M2UA DATA message without a Protocol Data parameter",
    "m2ua.bad_version": "an M2UA message with a version other than 1",
    "m2pa.truncated": "an M2PA message is shorter than its header says",
    "m2pa.bad_version": "an M2PA message with a version other than 1",
    "mtp2.truncated": "an MTP2 signal unit is shorter than its header",
    "mtp2.length_mismatch": "an MTP2 length indicator that does not match the signal unit length",
    "mtp2.bad_fcs": "an MTP2 signal unit whose frame check sequence (CRC-16) does not match its contents",
    "mtp3.truncated": "the MTP3 routing label is shorter than the point-code format needs",
    "mtp3.unsupported_si": "an MTP3 service indicator that is not ISUP or BICC",
    "carrier.internal_error": "an adaptation-layer decoder (M3UA, M2PA, M2UA, MTP, SIP) failed on one unit "
    "(a bug); that unit was skipped",
    # SIP-I
    "sip.malformed": "a SIP message whose start line or headers cannot be parsed",
    "sip.truncated_body": "a SIP body shorter than its Content-Length",
    "sip.bad_multipart": "a multipart SIP body without a usable boundary",
    "sip.unknown_isup_version": "an application/ISUP body whose version names no known variant",
    # ISUP / BICC
    "isup.truncated": "the message ends before its mandatory part is complete",
    "isup.unknown_message_type": "a message type code that no table names",
    "isup.pointer_out_of_range": "a pointer points outside the message",
    "isup.parameter_overrun": "a parameter's length runs past the end of the message",
    "isup.missing_end_of_optional": "the optional part ends without the end-of-optional-parameters octet",
    "isup.trailing_bytes": "bytes after the end of the message",
    "isup.irregular_layout": "pointers that skip octets, or make parameters overlap or come out of order",
    "isup.bad_parameter": "a parameter whose length or contents do not fit its definition",
    "isup.duplicate_parameter": "an optional parameter that appears more than once",
}

"""Former home of the network builders, kept so that ``from sigdiag.carrier import netbuild`` keeps
working.  Nothing is defined here: every name is the one of the module of its layer, where new code
imports it from: :mod:`sigdiag.carrier.link`, :mod:`sigdiag.carrier.ip`, :mod:`sigdiag.carrier.sctp`,
:mod:`sigdiag.carrier.transport`, :mod:`sigdiag.carrier.flows`.
"""

from sigdiag.carrier import flows, ip, link, transport
from sigdiag.carrier import sctp as _sctp

SctpFlow = flows.SctpFlow
TcpFlow = flows.TcpFlow
UdpFlow = flows.UdpFlow
inet_checksum = ip.inet_checksum
ip_packet = ip.ip_packet
ipv4 = ip.ipv4
ipv4_fragments = ip.ipv4_fragments
ipv6 = ip.ipv6
ipv6_fragments = ip.ipv6_fragments
encapsulate = link.encapsulate
ethernet = link.ethernet
loopback = link.loopback
sll = link.sll
sll2 = link.sll2
crc32c = _sctp.crc32c
data_chunk = _sctp.data_chunk
data_chunks = _sctp.data_chunks
idata_chunk = _sctp.idata_chunk
sack_chunk = _sctp.sack_chunk
sctp = _sctp.sctp
sctp_packet = _sctp.sctp_packet
ACK = transport.ACK
FIN = transport.FIN
PSH = transport.PSH
RST = transport.RST
SYN = transport.SYN
tcp = transport.tcp
tcp_packet = transport.tcp_packet
udp = transport.udp
udp_packet = transport.udp_packet
